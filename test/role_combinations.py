"""Every combination of fleet roles (salt/states/roles.yaml), and the
smallest pillar each needs: what the README promises about keys without a
default, said in terms of roles (independently of how webstack.validate works
it out). Used by test/unit/test_required_keys.py and
test/render/test_role_combinations.py."""

import itertools

import yaml
from conftest import with_settings

from tools.harness.dockerbox import REPO

ROLES = [role for role in yaml.safe_load((REPO / "salt/states/roles.yaml").read_text()) if role != "common"]
# A box is the primary or a replica of it, not both.
EXCLUSIVE = {"db", "db_replica"}
EVERY = [c for n in range(len(ROLES) + 1) for c in itertools.combinations(ROLES, n)]
COMBINATIONS = [c for c in EVERY if not EXCLUSIVE <= set(c)]

RUN_THE_APP = {"web", "worker"}
# Each key without a default, and the boxes that use it.
NEEDS = {
    "project.name": lambda roles, celery: True,
    # The database's own password (a replica's too: it serves the app's
    # reads), and the app's DATABASE_URL.
    "postgresql.password": lambda roles, celery: bool(roles & ({"db", "db_replica"} | RUN_THE_APP)),
    # What a replica streams with.
    "postgresql.replication.password": lambda roles, celery: "db_replica" in roles,
    # The broker's own password, and CELERY_BROKER_URL where the app runs Celery.
    "rabbitmq.password": lambda roles, celery: "queue" in roles or bool(celery and roles & RUN_THE_APP),
}
VALUES = {
    "project.name": "shop",
    "postgresql.password": "db-secret-1",
    "postgresql.replication.password": "repl-secret-1",
    "rabbitmq.password": "mq-secret-1",
}


def smallest(roles, celery, drop=None):
    """The pillar `roles` need (with the app's Celery or not), less the key `drop`."""
    sections = {}
    for key, value in VALUES.items():
        if key != drop and NEEDS[key](roles, celery):
            *path, name = key.split(".")
            node = sections
            for part in path:
                node = node.setdefault(part, {})
            node[name] = value
    if celery:
        sections.setdefault("app", {})["celery"] = "shop.celery"
    return with_settings({}, **sections, roles=sorted(roles))
