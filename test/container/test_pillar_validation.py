"""A bad pillar is refused by a real state.apply before anything on the box
changes, with a message naming the key (every case of test/pillars/bad.yaml),
and so is an unknown role in the `roles` grain; what the person at the
terminal reads is the problems alone, whatever is applied."""

import pytest
from conftest import bad_pillars, load_pillar
from dry_run import NOT_THE_BOX

from tools.harness.dockerbox import TEST_PILLAR_ROOT

# What a run may touch even when it refuses: what is not the box's
# configuration (Salt's own files, logs, the pillar the harness writes, timer
# stamps), and the grains the harness writes.
IGNORED = (*NOT_THE_BOX, "/etc/salt")


def footprint(box) -> str:
    """Installed packages, plus every file (not directory) changed since the marker."""
    prune = " -o ".join(f"-path {p}" for p in IGNORED)
    return box.exec(
        "dpkg-query -W -f '${Package} ${Version}\\n' | sha256sum; "
        f"find / -xdev \\( {prune} \\) -prune -o ! -type d -newer /root/.webstack-marker -print | sort"
    ).stdout


@pytest.fixture(scope="module")
def box(boxes):
    box = boxes.start("badpillar")
    box.exec("touch /root/.webstack-marker")
    before = footprint(box)
    yield box
    assert footprint(box) == before, "a refused run changed the box"


@pytest.mark.parametrize("pillar, message", bad_pillars())
def test_bad_pillar_is_refused_before_any_change(box, pillar, message):
    result = box.apply(pillar)
    assert not result.states, f"states ran: {result.summary()}"
    assert result.rc != 0
    assert message in "\n".join(result.errors), result.errors


def test_unknown_role_in_the_grain_is_refused(box):
    box.set_roles(["web", "databse"])
    try:
        result = box.apply(load_pillar("demo"))
    finally:
        box.exec("rm -f /etc/salt/grains")
    assert not result.states and result.rc != 0
    assert "grains:roles: unknown role 'databse'" in "\n".join(result.errors), result.errors


@pytest.mark.parametrize("states", [[], ["nginx"], ["test=True"]], ids=["highstate", "one-state", "dry-run"])
def test_a_missing_key_is_all_the_user_reads(box, states):
    pillar = load_pillar("demo")
    del pillar["webstack"]["rabbitmq"]["password"]
    box.write_pillar(pillar)
    # As the README says to run it: Salt's own output and log level.
    salt_call = ["salt-call", "--local", f"--pillar-root={TEST_PILLAR_ROOT}"]
    res = box.exec([*salt_call, "state.apply", *states], check=False)
    seen = (res.stdout + res.stderr).splitlines()
    assert res.rc != 0 and res.stdout == ""
    assert seen == ["Invalid pillar, nothing was changed:", "  webstack:rabbitmq:password: is required"], seen
