"""Every malformed pillar of test/pillars/bad.yaml is refused with a message
naming its key: by webstack.validate, or (cross-key checks) by the render."""

import pytest
from conftest import ALL_ROLES, RenderFailed, bad_pillars

SINGLE_BOX = ["web", "worker", "db", "queue", "cache"]


@pytest.mark.parametrize("pillar, message", bad_pillars())
def test_bad_pillar_is_refused_naming_the_key(request, salt_loader, render, pillar, message):
    if request.node.get_closest_marker("render_only"):
        with pytest.raises(RenderFailed) as failed:
            render("debian-12", pillar, roles=SINGLE_BOX)
        errors = str(failed.value)
    else:
        validate = salt_loader().salt["webstack.validate"]
        errors = "\n".join(validate(pillar, {"roles": ALL_ROLES}))
    assert message in errors, errors


def test_there_are_at_least_25_cases():
    assert len(bad_pillars()) >= 25
