"""_modules/bans.py: who fail2ban never bans, and the port it watches."""

import pytest


@pytest.fixture
def bans(salt_loader):
    """`bans(mine)`: the module, the mine holding `mine` ({minion: [ips]}); `.asked`: its calls."""

    def make(mine=None):
        asked = []

        def mine_get(tgt, fun, *args, **kwargs):
            asked.append((tgt, fun))
            return mine or {}

        salt = salt_loader(fakes={"mine.get": mine_get}).salt
        salt.asked = asked
        return salt

    return make


def test_loopback_comes_first_then_peers_then_the_allow_list_each_once(bans):
    got = bans()["bans.never_banned"](["10.0.0.5", "10.0.0.5/32", "fd00::1"], ["203.0.113.0/24", "::1"])
    assert got == ["127.0.0.0/8", "::1", "10.0.0.5", "fd00::1", "203.0.113.0/24"]


def test_every_listed_peer_of_every_role_and_the_ssh_port_without_asking_the_mine(bans):
    salt = bans({"m1": ["192.0.2.1"]})
    ws = {
        "known_roles": ["web", "db", "cache"],
        "peers": {"db": ["10.0.0.5"], "web": ["10.0.0.10", "10.0.0.5", "fd00::2"], "cache": []},
        "ssh": {"port": 2222},
    }
    got = salt["bans.derive"]({"ignoreip": ["198.51.100.7"]}, ws)
    assert got["never_banned"] == ["127.0.0.0/8", "::1", "10.0.0.5", "10.0.0.10", "fd00::2", "198.51.100.7"]
    assert got["port"] == 2222
    assert salt.asked == []


def test_roles_the_pillar_leaves_out_bring_every_address_of_every_minion_in_the_mine(bans):
    salt = bans({"web1": ["10.0.0.7", "172.17.0.2"], "db1": ["10.0.0.5"], "odd": "not a list"})
    ws = {"known_roles": ["web", "db"], "peers": {"db": ["10.0.0.5"]}}
    got = salt["bans.derive"]({"ignoreip": []}, ws)
    assert got == {"never_banned": ["127.0.0.0/8", "::1", "10.0.0.5", "10.0.0.7", "172.17.0.2"], "port": 22}
    assert salt.asked == [("*", "network.ip_addrs")]


def test_an_empty_mine_leaves_loopback_and_the_allow_list(bans):
    got = bans()["bans.derive"]({"ignoreip": ["203.0.113.0/24"]}, {"known_roles": ["db"], "peers": {}})
    assert got["never_banned"] == ["127.0.0.0/8", "::1", "203.0.113.0/24"]
