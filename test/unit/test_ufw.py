"""_modules/ufw.py: parsing real ufw output, building rule commands, and the
rules a box needs from its settings (through Salt's loader)."""

from pathlib import Path

import pytest
from salt.exceptions import CommandExecutionError

# Captured from ufw 0.36.2 (Debian 12) in a webstack box.
OUTPUTS = Path(__file__).parent / "test_ufw_outputs"


def output(name):
    return (OUTPUTS / name).read_text()


@pytest.fixture(scope="module")
def ufw(tmp_path_factory):
    import salt.loader
    from conftest import minion_opts

    opts = minion_opts(tmp_path_factory.mktemp("ufw"))
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})
    public = {name.split(".", 1)[1]: mods[name] for name in mods if name.startswith("ufw.")}
    # The pure helpers too (private: `salt-call sys.doc ufw` lists what an
    # operator calls), by their names without the underscore.
    module = public["rules_for"].__globals__
    private = {
        name[1:]: fn
        for name, fn in module.items()
        if name.startswith("_")
        and not name.startswith("__")
        and getattr(fn, "__module__", None) == module["__name__"]
    }
    return {**private, **public}


def subset(rule, **fields):
    return {k: rule[k] for k in fields}


# -- ufw show added -------------------------------------------------------------


def test_show_added_lists_every_user_rule_once_in_order(ufw):
    rules = ufw["parse_added"](output("show-added.txt"))
    assert [r["line"] for r in rules][:3] == [
        "allow 22/tcp comment 'webstack: ssh'",
        "allow from 172.22.0.3 to any port 5432 proto tcp comment 'webstack: postgresql'",
        "allow 80,443/tcp comment 'webstack: web'",
    ]
    assert len(rules) == 11


@pytest.mark.parametrize(
    "index, fields",
    [
        (0, {"action": "allow", "port": "22", "proto": "tcp", "from": "any", "comment": "webstack: ssh"}),
        (1, {"from": "172.22.0.3", "port": "5432", "proto": "tcp", "comment": "webstack: postgresql"}),
        (2, {"port": "80,443", "proto": "tcp"}),  # a port list
        (3, {"port": "6000:6007", "proto": "udp", "comment": None}),  # a range
        (4, {"from": "10.0.0.0/8", "port": None, "proto": "any"}),  # a source, no port
        (5, {"port": "8080", "proto": "any"}),
        (6, {"action": "deny", "port": "25"}),
        (7, {"action": "limit", "port": "2222"}),
        (8, {"direction": "in", "interface": "eth0", "port": "9000", "proto": "tcp"}),
        (9, {"from": "fd00:10::/64", "port": "5432", "comment": "webstack: postgresql"}),  # IPv6 network
        (10, {"from": "2001:db8::1", "port": "11211", "comment": "webstack: memcached"}),  # IPv6 host
    ],
)
def test_show_added_rule_fields(ufw, index, fields):
    rule = ufw["parse_added"](output("show-added.txt"))[index]
    assert subset(rule, **fields) == fields


def test_show_added_marks_only_webstack_rules_as_managed(ufw):
    rules = ufw["parse_added"](output("show-added.txt"))
    managed = [r["port"] for r in rules if ufw["is_managed"](r)]
    assert managed == ["22", "5432", "80,443", "5432", "11211"]


def test_show_added_with_no_rules(ufw):
    assert ufw["parse_added"](output("show-added-none.txt")) == []


def test_show_added_keeps_rules_it_cannot_read_as_unparsed(ufw):
    rules = ufw["parse_added"]("ufw allow 22/tcp\nufw frobnicate everything\n")
    assert [r.get("unparsed", False) for r in rules] == [False, True]
    assert rules[1]["line"] == "frobnicate everything"
    assert not ufw["is_managed"](rules[1])


# -- ufw status -----------------------------------------------------------------


def test_status_verbose_header(ufw):
    status = ufw["parse_status"](output("status-verbose.txt"))
    assert status["active"] is True
    assert status["logging"] == "on (low)"
    assert status["default"] == {"incoming": "deny", "outgoing": "allow", "routed": "deny"}
    assert status["new_profiles"] == "skip"


def test_status_verbose_lists_live_rules_per_address_family(ufw):
    rules = ufw["parse_status"](output("status-verbose.txt"))["rules"]
    assert len(rules) == 18
    v4 = [r for r in rules if not r["v6"]]
    v6 = [r for r in rules if r["v6"]]
    assert len(v4) == 9 and len(v6) == 9
    ssh = [r for r in rules if r["port"] == "22"]
    assert [(r["v6"], r["from"], r["comment"]) for r in ssh] == [
        (False, "any", "webstack: ssh"),
        (True, "any", "webstack: ssh"),
    ]


@pytest.mark.parametrize(
    "line, fields",
    [
        (
            "5432/tcp                   ALLOW IN    172.22.0.3                 # webstack: postgresql",
            {
                "port": "5432",
                "proto": "tcp",
                "from": "172.22.0.3",
                "v6": False,
                "comment": "webstack: postgresql",
            },
        ),
        (
            "5432/tcp                   ALLOW IN    fd00:10::/64               # webstack: postgresql",
            {"port": "5432", "from": "fd00:10::/64", "v6": True},
        ),
        (
            "6000:6007/udp (v6)         ALLOW IN    Anywhere (v6)             ",
            {"port": "6000:6007", "v6": True},
        ),
        (
            "Anywhere                   ALLOW IN    10.0.0.0/8                ",
            {"port": None, "from": "10.0.0.0/8"},
        ),
        (
            "2222/tcp                   LIMIT IN    Anywhere                  ",
            {"action": "limit", "comment": None},
        ),
        (
            "9000/tcp (v6) on eth0      ALLOW IN    Anywhere (v6)             ",
            {"interface": "eth0", "v6": True},
        ),
        (
            "80,443/tcp                 ALLOW IN    Anywhere                   # webstack: web",
            {"port": "80,443"},
        ),
        (
            "25/tcp                     DENY IN     Anywhere                  ",
            {"action": "deny", "direction": "in"},
        ),
    ],
)
def test_status_rule_lines(ufw, line, fields):
    assert subset(ufw["parse_table_line"](line), **fields) == fields


def test_status_numbered_carries_the_numbers(ufw):
    status = ufw["parse_status"](output("status-numbered.txt"))
    assert status["active"] is True
    numbers = [r["number"] for r in status["rules"]]
    assert numbers == list(range(1, 19))
    last = status["rules"][-1]
    assert subset(last, port="11211", **{"from": "2001:db8::1"}, v6=True, comment="webstack: memcached") == {
        "port": "11211",
        "from": "2001:db8::1",
        "v6": True,
        "comment": "webstack: memcached",
    }


def test_status_inactive_has_no_rules(ufw):
    status = ufw["parse_status"](output("status-inactive.txt"))
    assert status == {"active": False, "logging": None, "default": {}, "new_profiles": None, "rules": []}


def test_status_with_ipv6_off_lists_ipv4_rules_only(ufw):
    status = ufw["parse_status"](output("status-verbose-ipv6-off.txt"))
    assert status["logging"] == "off"
    assert len(status["rules"]) == 9
    assert not any(r["v6"] for r in status["rules"])


def test_etc_default_ufw(ufw):
    conf = ufw["parse_defaults"](output("etc-default-ufw.txt"))
    assert conf == {"ipv6": True, "policy": {"incoming": "deny", "outgoing": "allow", "routed": "deny"}}
    off = ufw["parse_defaults"]('IPV6=no\nDEFAULT_INPUT_POLICY="ACCEPT"\n')
    assert off["ipv6"] is False and off["policy"]["incoming"] == "allow"


# -- building rule commands ------------------------------------------------------


@pytest.mark.parametrize(
    "rule, line",
    [
        # each line as ufw 0.36 prints it in `ufw show added` (see show-added.txt)
        ({"port": 22, "proto": "tcp", "comment": "webstack: ssh"}, "allow 22/tcp comment 'webstack: ssh'"),
        (
            {"port": "5432", "proto": "tcp", "from": "172.22.0.3", "comment": "webstack: postgresql"},
            "allow from 172.22.0.3 to any port 5432 proto tcp comment 'webstack: postgresql'",
        ),
        (
            {"port": "80, 443", "proto": "tcp", "comment": "webstack: web"},
            "allow 80,443/tcp comment 'webstack: web'",
        ),
        ({"port": "6000:6007", "proto": "udp"}, "allow 6000:6007/udp"),
        ({"port": None, "from": "10.0.0.0/8"}, "allow from 10.0.0.0/8"),
        ({"port": "8080"}, "allow 8080"),
        ({"action": "limit", "port": "2222", "proto": "tcp"}, "limit 2222/tcp"),
        ({"port": "7103", "from": "10.0.0.5"}, "allow from 10.0.0.5 to any port 7103"),
        # ufw drops /32 and host bits, and writes IPv6 compressed, lower case
        (
            {"port": "7100", "proto": "tcp", "from": "10.1.2.3/32"},
            "allow from 10.1.2.3 to any port 7100 proto tcp",
        ),
        (
            {"port": "7101", "proto": "tcp", "from": "10.1.2.3/8"},
            "allow from 10.0.0.0/8 to any port 7101 proto tcp",
        ),
        (
            {"port": "11211", "proto": "tcp", "from": "2001:DB8::0001", "comment": "webstack: memcached"},
            "allow from 2001:db8::1 to any port 11211 proto tcp comment 'webstack: memcached'",
        ),
    ],
)
def test_build_matches_what_ufw_shows(ufw, rule, line):
    assert ufw["rule_text"](rule) == line
    # and reads back as the same rule
    again = ufw["parse_added"]("ufw " + line)[0]
    assert ufw["rule_key"](again) == ufw["rule_key"](ufw["parse_rule"](ufw["build_args"](rule)))


def test_every_captured_line_round_trips(ufw):
    for rule in ufw["parse_added"](output("show-added.txt")):
        if rule["interface"]:
            continue  # webstack makes no interface rules
        rebuilt = ufw["rule_text"]({k: v for k, v in rule.items() if k != "line"})
        assert rebuilt == rule["line"]


@pytest.mark.parametrize(
    "rule, error",
    [
        ({"port": "80,443"}, "needs proto tcp or udp"),
        ({"port": "6000:6007", "proto": "any"}, "needs proto tcp or udp"),
        ({"port": "http", "proto": "tcp"}, "bad port"),
        ({"port": "22", "proto": "icmp"}, "bad proto"),
        ({"port": "22", "comment": "webstack: it's"}, "cannot keep"),
        ({"port": "22", "interface": "eth0"}, "port rules only"),
        ({"port": "22", "action": "accept"}, "unknown action"),
    ],
)
def test_build_refuses_rules_ufw_would_reject_or_mangle(ufw, rule, error):
    with pytest.raises(ValueError, match=error):
        ufw["build_args"](rule)


def test_ssh_access_checks(ufw):
    allows = ufw["allows_ssh"]
    assert allows({"port": "22", "proto": "tcp"}, 22)
    assert allows({"port": "2000:2100", "proto": "tcp", "from": "10.0.0.0/8"}, 2022)
    assert allows({"action": "limit", "port": "80,22", "proto": "any"}, 22)
    assert not allows({"port": "22", "proto": "udp"}, 22)
    assert not allows({"port": "22", "proto": "tcp", "action": "deny"}, 22)
    assert not allows({"port": "2222", "proto": "tcp"}, 22)
    assert allows({"port": None, "from": "10.0.0.0/8"}, 22)  # every port, from a network
    assert not allows({"port": "22", "proto": "tcp", "interface": "eth1"}, 22)  # one interface only


# -- the rules of a box ------------------------------------------------------------


SECRETS = {"postgresql": {"password": "db-secret-1"}, "rabbitmq": {"password": "mq-secret-1"}}


def settings(roles, **sections):
    """
    The webstack settings (webstack.settings, with the components'
    declarations) of a box holding `roles`, TLS on, with these pillar
    sections; no peers in the mine, a route to every client.
    """
    import tempfile

    import salt.loader
    from conftest import HOST_GRAINS, OS_GRAINS, minion_opts, with_settings

    tls = {"tls": {"enabled": True, "self_signed": True}}
    base = {
        "webstack": {"project": {"name": "shop", "domains": ["shop.example.com"]}, "roles": roles, **SECRETS}
    }
    pillar = with_settings(with_settings(base, nginx=tls, balancer=tls), **sections)
    opts = minion_opts(Path(tempfile.mkdtemp(prefix="ufw-settings-")))
    opts.update(pillar=pillar, grains={**HOST_GRAINS, **OS_GRAINS["debian-12"], "roles": []})
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})
    mods["mine.get"] = lambda *a, **kw: {}
    mods["network.get_route"] = lambda ip: {"destination": ip, "source": "10.0.0.1"}
    return mods["webstack.settings"]()


def brief(rules):
    return [(r["port"], r["proto"], r["from"], r["comment"]) for r in rules]


def test_single_box_opens_ssh_and_web_only(ufw):
    # db, queue and cache listen on localhost when there are no peers
    rules = ufw["rules_for"](settings(["web", "worker", "db", "queue", "cache"]), peers={}, salt_master=False)
    assert brief(rules) == [
        ("22", "tcp", "any", "webstack: ssh"),
        ("80", "tcp", "any", "webstack: http"),
        ("443", "tcp", "any", "webstack: https"),
    ]


@pytest.mark.parametrize("roles, section", [(["web"], "nginx"), (["balancer"], "balancer")])
def test_https_is_opened_only_where_tls_is_served(ufw, roles, section):
    ws = settings(roles, **{section: {"tls": {"enabled": False}}})
    assert brief(ufw["rules_for"](ws, peers={}, salt_master=False)) == [
        ("22", "tcp", "any", "webstack: ssh"),
        ("80", "tcp", "any", "webstack: http"),
    ]


def test_ssh_port_from_the_ssh_section_and_sources(ufw):
    ws = settings([], ssh={"port": 2222}, firewall={"ssh_sources": ["10.9.0.0/16", "192.0.2.7/32"]})
    assert brief(ufw["rules_for"](ws, peers={}, salt_master=False)) == [
        ("2222", "tcp", "10.9.0.0/16", "webstack: ssh"),
        ("2222", "tcp", "192.0.2.7", "webstack: ssh"),
    ]
    assert ufw["ssh_port"](ws) == 2222
    assert ufw["ssh_port"]({}) == 22


def test_db_queue_cache_only_from_web_and_worker_peers(ufw):
    peers = {"web": ["10.0.0.11", "10.0.0.12"], "worker": ["10.0.0.12", "10.0.0.13"], "db": ["10.0.0.20"]}
    ws = settings(
        ["db", "queue", "cache"],
        postgresql={"port": 5433},
        rabbitmq={"port": 5673},
        cache={"memcached": {"enabled": False, "port": 11211}, "redis": {"enabled": True, "port": 6380}},
    )
    got = brief(ufw["rules_for"](ws, peers=peers, salt_master=False))
    sources = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    assert got == (
        [("22", "tcp", "any", "webstack: ssh")]
        # PostgreSQL also lets in the db and db_replica boxes (a fenced primary asks a promoted replica).
        + [("5433", "tcp", s, "webstack: postgresql") for s in [*sources, "10.0.0.20"]]
        + [("6380", "tcp", s, "webstack: redis") for s in sources]
        + [("5673", "tcp", s, "webstack: rabbitmq") for s in sources]
    )


def test_service_clients_are_let_in_too_even_on_a_single_box(ufw):
    from conftest import load_pillar

    ws = settings(
        ["web", "worker", "db", "cache"],
        # PostgreSQL lets other boxes in over TLS only: the fleet's CA and its certificate.
        peer_tls=load_pillar("peer_tls")["webstack"]["peer_tls"],
        postgresql={"port": 5432, "clients": ["10.5.0.0/24"]},
        cache={"clients": ["10.6.0.7"], "memcached": {"enabled": True}, "redis": {"enabled": True}},
    )
    got = brief(ufw["rules_for"](ws, peers={}, salt_master=False))
    # In run order: ssh, then postgresql and cache (before nginx's http, https).
    assert got[1:4] == [
        ("5432", "tcp", "10.5.0.0/24", "webstack: postgresql"),
        ("11211", "tcp", "10.6.0.7", "webstack: memcached"),
        ("6379", "tcp", "10.6.0.7", "webstack: redis"),
    ]


def test_web_behind_balancers_accepts_http_from_them_only(ufw):
    peers = {"balancer": ["10.0.0.2"]}
    got = brief(ufw["rules_for"](settings(["web", "worker"]), peers=peers, salt_master=False))
    assert got[1:] == [
        ("80", "tcp", "10.0.0.2", "webstack: http"),
        ("443", "tcp", "10.0.0.2", "webstack: https"),
    ]
    # the balancer itself takes http from anyone
    got = brief(ufw["rules_for"](settings(["balancer"]), peers=peers, salt_master=False))
    assert got[1:] == [("80", "tcp", "any", "webstack: http"), ("443", "tcp", "any", "webstack: https")]


def test_extra_rules_from_the_pillar(ufw):
    ws = settings(
        ["web"],
        firewall={
            "rules": [
                {"port": 8443},
                {"port": "6000:6007", "proto": "udp", "from": ["10.1.0.0/16", "worker"], "comment": "game"},
                {"port": 80, "comment": "duplicate of web"},  # same rule as the role's: first label wins
                {"port": 53, "proto": "any", "from": "fd00::/8"},
            ]
        },
    )
    got = brief(ufw["rules_for"](ws, peers={"worker": ["10.0.0.13"]}, salt_master=False))
    assert got == [
        ("22", "tcp", "any", "webstack: ssh"),
        ("80", "tcp", "any", "webstack: http"),
        ("443", "tcp", "any", "webstack: https"),
        ("8443", "tcp", "any", "webstack: 8443/tcp"),
        ("6000:6007", "udp", "10.1.0.0/16", "webstack: game"),
        ("6000:6007", "udp", "10.0.0.13", "webstack: game"),
        ("53", "any", "fd00::/8", "webstack: 53/any"),
    ]


def test_extra_rule_from_a_role_without_peers_adds_nothing(ufw):
    ws = settings([], firewall={"rules": [{"port": 9100, "from": "worker"}]})
    assert brief(ufw["rules_for"](ws, peers={}, salt_master=False)) == [("22", "tcp", "any", "webstack: ssh")]


@pytest.mark.parametrize(
    "firewall, error",
    [
        ({"rules": [{"port": "80,443", "proto": "any"}]}, "needs proto tcp or udp"),
        ({"rules": [{"port": 22, "from": "somewhere"}]}, r"webstack:firewall:rules:0:from: 'somewhere'"),
        ({"ipv6": False, "rules": [{"port": 53, "from": "fd00::/8"}]}, "IPv6 source"),
    ],
)
def test_bad_settings_fail_naming_the_key(ufw, firewall, error):
    with pytest.raises(CommandExecutionError, match=error):
        ufw["rules_for"](settings([], firewall=firewall), peers={}, salt_master=False)


def test_a_salt_master_keeps_its_ports_open(ufw):
    got = brief(ufw["rules_for"](settings([]), peers={}, salt_master=True))
    assert got == [
        ("22", "tcp", "any", "webstack: ssh"),
        ("4505:4506", "tcp", "any", "webstack: salt-master"),
    ]


def test_peers_and_salt_master_default_to_what_the_box_says(salt_loader):
    asked, ran = [], []

    def peers(role):
        asked.append(role)
        return {"web": ["10.0.0.11"]}.get(role, [])

    def run_all(cmd, **kwargs):
        ran.append(cmd)
        return {"retcode": 0, "stdout": "enabled\n", "stderr": ""}

    ldr = salt_loader(fakes={"webstack.peers": peers, "cmd.run_all": run_all})
    rules = ldr.salt["ufw.rules_for"](settings(["db"]))
    assert brief(rules)[1:] == [
        ("4505:4506", "tcp", "any", "webstack: salt-master"),
        ("5432", "tcp", "10.0.0.11", "webstack: postgresql"),
    ]
    assert asked == ["web", "worker", "db", "db_replica"]
    assert ran == [["systemctl", "is-enabled", "salt-master"]]
