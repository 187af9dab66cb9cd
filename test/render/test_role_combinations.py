"""The highstate of every fleet-role combination of up to two roles, and of
the whole single box, renders from the smallest pillar it needs
(test/role_combinations.py), here without Celery: no broker password, and no
broker URL anywhere, on a box without the broker."""

import pytest
from conftest import with_settings
from role_combinations import COMBINATIONS, ROLES, smallest

SINGLE_BOX = tuple(role for role in ROLES if role != "balancer")
RENDERED = [c for c in COMBINATIONS if len(c) <= 2 or c == SINGLE_BOX]
EXAMPLE = {"source": {"path": "/opt/webstack/example"}}


@pytest.mark.parametrize("roles", RENDERED, ids=lambda c: "+".join(c) or "common-only")
def test_the_smallest_pillar_renders_the_highstate(render, roles):
    pillar = with_settings(smallest(set(roles), celery=False), app=EXAMPLE)
    high = render("debian-12", pillar, roles=list(roles))
    assert high and "amqp://" not in str(high), roles
