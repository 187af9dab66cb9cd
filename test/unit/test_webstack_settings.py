"""webstack.validate / webstack.settings through Salt's loader."""

import pytest


@pytest.fixture
def ws(salt_loader):
    return salt_loader().salt


def test_minimal_pillar_is_valid(ws):
    assert ws["webstack.validate"]({"webstack": {"project": {"name": "shop"}}}, {"roles": []}) == []


@pytest.mark.parametrize(
    "webstack, key",
    [
        ({"project": {"name": "Shop!"}}, "webstack:project:name"),
        ({"project": {"name": "shop", "domains": ["bad_domain"]}}, "webstack:project:domains:0"),
        ({"project": {"name": "shop"}, "roles": ["wbe"]}, "webstack:roles"),
        ({"project": {"name": "shop"}, "bogus": 1}, "webstack:bogus"),
        ({"project": {"name": "shop"}, "peers": {"db": ["not-an-ip"]}}, "webstack:peers:db:0"),
    ],
)
def test_bad_pillar_names_the_key(ws, webstack, key):
    errors = ws["webstack.validate"]({"webstack": webstack}, {"roles": []})
    assert any(e.startswith(key + ":") for e in errors), errors
