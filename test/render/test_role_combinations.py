"""The highstate of every fleet-role combination of up to two roles, and of
the whole single box, renders from the smallest pillar it needs
(test/role_combinations.py), here without Celery: no broker password, and no
broker URL anywhere, on a box without the broker."""

import pytest
from conftest import load_pillar, with_settings
from role_combinations import COMBINATIONS, ROLES, smallest

SINGLE_BOX = tuple(role for role in ROLES if role not in ("balancer", "db_replica"))
RENDERED = [c for c in COMBINATIONS if len(c) <= 2 or c == SINGLE_BOX]
EXAMPLE = {"source": {"path": "/opt/webstack/example"}}
# What a replica needs beyond its pillar keys: a primary to follow, and the
# fleet's CA with its certificate (a master's ext_pillar gives those).
REPLICA = {"peers": {"db": ["10.0.0.5"]}, "peer_tls": load_pillar("peer_tls")["webstack"]["peer_tls"]}


@pytest.mark.parametrize("roles", RENDERED, ids=lambda c: "+".join(c) or "common-only")
def test_the_smallest_pillar_renders_the_highstate(render, roles):
    pillar = with_settings(
        smallest(set(roles), celery=False), app=EXAMPLE, **(REPLICA if "db_replica" in roles else {})
    )
    high = render("debian-12", pillar, roles=list(roles))
    assert high and "amqp://" not in str(high), roles
