"""_modules/bans.py: who fail2ban never bans, and the port it watches."""

import pytest


@pytest.fixture
def mod(salt_loader):
    def make(peers):
        ldr = salt_loader(pillar={"webstack": {"peers": peers}})
        return ldr.salt

    return make


def test_loopback_comes_first_then_peers_then_the_allow_list_each_once(mod):
    salt = mod({})
    got = salt["bans.never_banned"](["10.0.0.5", "10.0.0.5/32", "fd00::1"], ["203.0.113.0/24", "::1"])
    assert got == ["127.0.0.0/8", "::1", "10.0.0.5", "fd00::1", "203.0.113.0/24"]


def test_derive_takes_every_roles_peers_and_the_ssh_port(mod):
    salt = mod({"db": ["10.0.0.5"], "web": ["10.0.0.7", "10.0.0.5"], "cache": []})
    ws = {"known_roles": ["web", "db", "cache"], "ssh": {"port": 2222}}
    got = salt["bans.derive"]({"ignoreip": ["198.51.100.7"]}, ws)
    assert got == {
        "never_banned": ["127.0.0.0/8", "::1", "10.0.0.5", "10.0.0.7", "198.51.100.7"],
        "port": 2222,
    }


def test_without_peers_or_an_ssh_section_only_loopback_and_port_22(mod):
    salt = mod({r: [] for r in ("db", "web")})
    assert salt["bans.derive"]({"ignoreip": []}, {"known_roles": ["db", "web"]}) == {
        "never_banned": ["127.0.0.0/8", "::1"],
        "port": 22,
    }
