"""A key without a default is required only on the boxes that use it, for
every combination of fleet roles (test/role_combinations.py): the smallest
pillar each combination needs passes webstack.validate, and dropping any key
it needs is refused naming that key."""

import pytest
from role_combinations import COMBINATIONS, EVERY, NEEDS, ROLES, VALUES, smallest


@pytest.fixture(scope="module")
def validate(tmp_path_factory):
    import salt.loader
    from conftest import minion_opts

    opts = minion_opts(tmp_path_factory.mktemp("required"))
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})
    return mods["webstack.validate"]


@pytest.mark.parametrize("celery", [False, True], ids=["no-celery", "celery"])
@pytest.mark.parametrize("roles", COMBINATIONS, ids=lambda c: "+".join(c) or "common-only")
def test_each_role_combination_needs_exactly_its_keys(validate, roles, celery):
    roles = set(roles)
    assert validate(smallest(roles, celery), {}) == []
    for key in VALUES:
        if NEEDS[key](roles, celery):
            problems = validate(smallest(roles, celery, drop=key), {})
            assert problems == [f"webstack:{key.replace('.', ':')}: is required"], problems


def test_there_are_all_combinations_but_a_primary_that_is_its_own_replica():
    assert len(EVERY) == 2 ** len(ROLES) == 128
    assert len(COMBINATIONS) == 128 - 2 ** (len(ROLES) - 2) == 96
