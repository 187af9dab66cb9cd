"""
Encrypted pillar secrets (README "Encrypted pillar secrets") on the whole
stack: the database password it already runs with, encrypted as the README
says (a key made in the box's gpg_keydir, its public half on the operator's
side, which encrypts), in a `#!yaml|gpg` pillar. With the key, the run
changes nothing (what Salt decrypts is exactly that password) and the app
still logs in with it; with no key or another one, the run is refused naming
the key before any state runs. The password shows in neither Salt's output
nor the box's logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import re

import pytest
from conftest import converged_to, with_settings
from site_client import fetch, pin
from test_stack import hits, wait_serving

KEYDIR = "/etc/salt/gpgkeys"  # Salt's default gpg_keydir on the box
OPERATOR = "/root/operator-gnupg"  # the operator's machine: the public key only
OTHER = "/root/other-gpgkeys"  # a keyring with another box's key
ASIDE = "/root/right-gpgkeys"
KEY = "salt@demo.webstack.test"
ENV = "/srv/demo/env"
CURRENT = "/srv/demo/current"


def gen_key(box, homedir: str, uid: str) -> None:
    box.exec(f"install -d -m 0700 {homedir}")
    box.exec(f"gpg --homedir {homedir} --batch --passphrase '' --quick-gen-key '{uid}' future-default")


def stop_agents(box) -> None:
    """gpg-agent holds a keyring's secret keys: stopped before its directory moves."""
    box.exec(f"for d in {KEYDIR} {OTHER}; do [ ! -d $d ] || gpgconf --homedir $d --kill gpg-agent; done")


@pytest.fixture(scope="module")
def box(stack_box):
    box = pin(stack_box)
    converged_to(box, box.pillar)
    password = box.pillar["webstack"]["postgresql"]["password"]
    gen_key(box, KEYDIR, f"Salt pillar <{KEY}>")
    gen_key(box, OTHER, "Another box <other@demo.webstack.test>")
    box.exec(f"gpg --homedir {KEYDIR} --armor --export {KEY} > /root/pillar-key.asc")
    box.exec(f"install -d -m 0700 {OPERATOR}")
    box.exec(f"gpg --homedir {OPERATOR} --batch --import /root/pillar-key.asc")
    ciphertext = box.exec(
        f"printf %s '{password}' | gpg --homedir {OPERATOR} --armor --batch --trust-model always "
        f"--encrypt -r {KEY}"
    ).stdout
    assert ciphertext.startswith("-----BEGIN PGP MESSAGE-----") and password not in ciphertext
    box.sealed = with_settings(box.pillar, postgresql={"password": ciphertext})
    box.password = password
    try:
        yield box
    finally:
        stop_agents(box)
        box.exec(f"rm -rf {KEYDIR} {OTHER} {OPERATOR} {ASIDE} /root/pillar-key.asc")
        box.exec(f"install -d -m 0700 {KEYDIR}")
        box.write_pillar(box.pillar)
        del box.sealed, box.password


@contextlib.contextmanager
def keyring(box, replacement: str | None):
    """The box's gpg_keydir replaced by `replacement` (a keyring, or None: empty) for the block."""
    stop_agents(box)
    box.exec(f"mv {KEYDIR} {ASIDE}")
    box.exec(f"cp -r {replacement} {KEYDIR}" if replacement else f"install -d -m 0700 {KEYDIR}")
    try:
        yield
    finally:
        stop_agents(box)
        box.exec(f"rm -rf {KEYDIR} && mv {ASIDE} {KEYDIR}")


def footprint(box) -> tuple:
    """What a refused run must leave as it was: the app's environment and its live release."""
    env = hashlib.sha256(box.exec(["cat", ENV]).stdout.encode()).hexdigest()
    return env, box.exec(["readlink", CURRENT]).stdout.strip()


def apply_logged(box):
    """state.apply of the encrypted pillar, and what the box logged meanwhile (Salt's log, the journal)."""
    size = box.exec("stat -c %s /var/log/salt/minion 2>/dev/null || echo 0").stdout.strip()
    since = box.exec("date +%s").stdout.strip()
    result = box.apply(box.sealed, renderer="yaml|gpg")
    logged = box.exec(f"tail -c +{int(size) + 1} /var/log/salt/minion 2>/dev/null || true").stdout
    logged += box.exec(f"journalctl -q --no-pager -o cat --since @{since}").stdout
    return result, logged


def test_with_the_key_the_secret_decrypts_to_what_runs_and_the_app_logs_in(box):
    before = footprint(box)
    result, logged = apply_logged(box)
    assert result.ok and not result.changed, result.explain()
    assert footprint(box) == before
    # New workers (a graceful reload) log in to PostgreSQL anew with the environment's
    # password, and a page through nginx counts the visit in the database.
    box.exec("supervisorctl signal HUP demo-gunicorn")
    wait_serving(box, 30)
    status_, first = fetch(box)
    assert status_ == 200, first
    status_, second = fetch(box)
    assert status_ == 200 and hits(second) == hits(first) + 1, second
    for text in (result.stderr, logged, *map(str, result.states.values())):
        assert box.password not in text


@pytest.mark.parametrize("replacement", [None, OTHER], ids=["no-key", "another-key"])
def test_without_the_key_the_run_is_refused_naming_it(box, replacement):
    before = footprint(box)
    with keyring(box, replacement):
        result, logged = apply_logged(box)
    assert result.rc != 0 and not result.states, result.summary()
    # What the operator reads from us (Salt warns of the failed decryption in its log itself).
    refusal = result.stderr[result.stderr.index("Invalid pillar") :].splitlines()
    assert refusal == [
        "Invalid pillar, nothing was changed:",
        f"  webstack:postgresql:password: still GPG-encrypted: no secret key in {KEYDIR} could decrypt "
        "it (the key is missing there, or the value was encrypted to another key); import the secret "
        f"key into {KEYDIR}, or encrypt the value again to a key it holds",
    ], result.stderr
    assert footprint(box) == before
    assert box.password not in "\n".join([result.stderr, *result.errors, logged])
    assert re.search(r"Could not decrypt cipher", result.stderr + logged)
