"""
tools/server/install-salt.sh as a user runs it on a bare server, on each
Debian release we converge (12: Python 3.11; 13: Python 3.13, which has no
`crypt` module), from the wheelhouse and from PyPI: afterwards Salt answers,
hashes a password (the `crypt` that Salt imports, from crypt-r on 3.13), has
gpg and the key directory of Salt's gpg renderer, and applies one of our
states.

The four installs run side by side, each on a bare base image (no Salt).
"""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from conftest import load_pillar
from figures import report

from tools.harness.dockerbox import MOUNT, SUITES, base_image

SOURCES = ("wheelhouse", "pypi")


def install(boxes, suite: str, source: str) -> tuple:
    box = boxes.start(f"install-{suite}-{source}", image=base_image(suite), install_salt=False)
    env = {"WHEELHOUSE": f"{MOUNT}/.cache/wheelhouse"} if source == "wheelhouse" else {}
    t0 = time.monotonic()
    res = box.exec(["sh", f"{MOUNT}/tools/server/install-salt.sh"], env=env, check=False)
    return box, res, time.monotonic() - t0


@pytest.fixture(scope="module")
def installed(boxes):
    """(suite, source) -> (box, install-salt.sh's Exec, seconds)."""
    cases = [(suite, source) for suite in SUITES for source in SOURCES]
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
        done = pool.map(lambda case: install(boxes, *case), cases)
        return dict(zip(cases, done, strict=True))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("suite", SUITES)
def test_install_salt_gives_a_salt_that_answers_hashes_and_applies(installed, suite, source, request):
    box, res, seconds = installed[(suite, source)]
    assert res.ok, res.stdout[-2000:] + res.stderr[-2000:]
    python = box.exec(["/opt/salt/bin/python", "-c", "import platform; print(platform.python_version())"])
    compiler = box.exec(["dpkg", "-s", "gcc"], check=False).ok
    report(
        request,
        f"install-salt.sh on {suite} (Python {python.stdout.strip()}) from {source}: {seconds:.0f} s"
        f", {'a compiler installed' if compiler else 'no compiler'}",
    )
    # The wheelhouse has every wheel each release's Python needs: nothing built there.
    assert compiler == (source == "pypi")
    assert box.salt_call("test.ping", check=True).stdout.split() == ["local:", "True"]
    hashed = box.salt_call("shadow.gen_password", "s3cret", "crypt_salt=webstack", check=True).stdout
    assert hashed.split()[-1].startswith("$6$webstack$"), hashed
    # What Salt's gpg renderer runs, and where it looks for keys (encrypted pillar values).
    assert box.exec(["gpg", "--version"]).ok
    assert box.exec(["stat", "-c", "%a %U", "/etc/salt/gpgkeys"]).stdout.split() == ["700", "root"]
    # One of our states, pillar validation and all (no package installs: the install is what's timed).
    applied = box.apply(load_pillar("minimal"), "hardening.login")
    assert applied.ok and applied.changed, applied.explain()
