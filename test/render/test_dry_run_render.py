"""A dry run on a fresh box (test=True, before the packages that bring psql
and rabbitmqctl, which Salt's postgres and rabbitmq states need) renders the
same state IDs as the real run: each says what the real run will do, so what
a dry run predicts can be held to what the real apply changes (issue 20; the
container tests do that on fresh boxes)."""

import pytest
import salt.utils.path
from conftest import load_pillar, with_settings

SERVER_PROGRAMS = ("psql", "rabbitmqctl")
# The demo's single box, and a primary with a replica's role and password.
PILLARS = {
    "demo": load_pillar("demo"),
    "primary": with_settings(load_pillar("demo"), postgresql={"replication": {"password": "repl-s3cret"}}),
}


@pytest.fixture
def fresh_box(monkeypatch):
    """The render host without the server programs, as a box before its first apply."""
    which = salt.utils.path.which
    monkeypatch.setattr(
        salt.utils.path, "which", lambda name: None if name in SERVER_PROGRAMS else which(name)
    )


def ids(high):
    return {state_id: body.get("__sls__") for state_id, body in high.items()}


@pytest.mark.parametrize("pillar", sorted(PILLARS))
def test_a_dry_run_before_the_servers_renders_every_state_of_the_real_run(render, fresh_box, pillar):
    real = render("debian-12", PILLARS[pillar])
    dry = render("debian-12", PILLARS[pillar], test=True)
    assert ids(dry) == ids(real)
    stand_ins = {
        i for i, body in dry.items() if "test" in body and i.startswith(("postgresql-", "rabbitmq-"))
    }
    assert "postgresql-app-role-logs-in-with-its-password" in stand_ins
    assert "rabbitmq-guest-user-is-removed" in stand_ins
    assert ("postgresql-replication-role-logs-in-with-its-password" in stand_ins) == (pillar == "primary")
    for state_id in stand_ins:
        (args,) = [v for k, v in dry[state_id].items() if k == "test"]
        comment = next(a["comment"] for a in args if isinstance(a, dict) and "comment" in a)
        assert comment.endswith("once PostgreSQL is installed.") or comment.endswith(
            "once RabbitMQ is installed."
        ), comment
