"""The base, users and ssh roles without a box: their pillar sections (good
ones pass, bad ones fail naming the key), and what only renders can show
(host names are left alone in containers, so the container tests can't).
"""

from pathlib import Path

import jinja2
import pytest
from conftest import RenderFailed, load_pillar, with_settings

FILES = Path(__file__).parents[2] / "salt/states/ssh/files"

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0n7b8Zq3yW4xV5c6d7e8f9g0h1i2j3k4l5m6n7o8p9 ada@laptop"


@pytest.fixture
def validate(salt_loader):
    fn = salt_loader().salt["webstack.validate"]
    return lambda sections: fn({"webstack": {"project": {"name": "shop"}, **sections}}, {"roles": []})


def test_every_key_of_ours_in_pillar_example_is_valid(validate):
    example = load_pillar("example")["webstack"]
    sections = {s: example[s] for s in ("base", "users", "ssh")}
    assert sections["users"]["developers"], "pillar.example shows a developer"
    assert validate(sections) == []


def test_a_full_developer_entry_is_valid(validate):
    dev = {
        "fullname": "Ada L",
        "ssh_keys": [KEY],
        "sudo": True,
        "shell": "/bin/zsh",
        "groups": ["adm"],
        "uid": 2001,
    }
    assert validate({"users": {"developers": {"ada": dev, "bob": {}}}}) == []


@pytest.mark.parametrize(
    "sections, key",
    [
        ({"base": {"timezone": "Europe Berlin"}}, "webstack:base:timezone"),
        ({"base": {"locale": "de_DE"}}, "webstack:base:locale"),
        ({"base": {"hostname": "*.example.com"}}, "webstack:base:hostname"),
        ({"base": {"packages": ["curl; rm -rf /"]}}, "webstack:base:packages:0"),
        ({"base": {"timezon": "UTC"}}, "webstack:base:timezon"),
        (
            {"base": {"unattended_upgrades": {"blacklist": ['x";']}}},
            "webstack:base:unattended_upgrades:blacklist:0",
        ),
        ({"base": {"unattended_upgrades": {"enabled": "yes"}}}, "webstack:base:unattended_upgrades:enabled"),
        ({"users": {"developers": {"Ada Lovelace": {}}}}, "webstack:users:developers"),
        ({"users": {"developers": {"root": {"ssh_keys": [KEY]}}}}, "webstack:users:developers"),
        (
            {"users": {"developers": {"ada": {"ssh_keys": ["AAAAC3Nza ada"]}}}},
            "webstack:users:developers:ada:ssh_keys:0",
        ),
        ({"users": {"developers": {"ada": {"ssh_keys": KEY}}}}, "webstack:users:developers:ada:ssh_keys"),
        ({"users": {"developers": {"ada": {"sudo": "yes"}}}}, "webstack:users:developers:ada:sudo"),
        ({"users": {"developers": {"ada": {"sshkeys": [KEY]}}}}, "webstack:users:developers:ada:sshkeys"),
        ({"users": {"developers": {"ada": {"uid": 0}}}}, "webstack:users:developers:ada:uid"),
        ({"users": {"developers": ["ada"]}}, "webstack:users:developers"),
        ({"users": {"group": "Dev Team"}}, "webstack:users:group"),
        ({"ssh": {"port": 70000}}, "webstack:ssh:port"),
        ({"ssh": {"allow_groups": ["wheel!"]}}, "webstack:ssh:allow_groups:0"),
        ({"ssh": {"permit_root_login": True}}, "webstack:ssh:permit_root_login"),
        ({"ssh": {"ciphers": ["aes256-gcm@openssh.com", "aes128-cbc"]}}, "webstack:ssh:ciphers:1"),
        ({"ssh": {"kex": ["diffie-hellman-group14-sha1"]}}, "webstack:ssh:kex:0"),
        ({"ssh": {"macs": []}}, "webstack:ssh:macs"),
        ({"ssh": {"host_keys": ["ecdsa"]}}, "webstack:ssh:host_keys:0"),
        ({"ssh": {"rsa_bits": 2048}}, "webstack:ssh:rsa_bits"),
        ({"ssh": {"limits": {"max_auth_tries": 0}}}, "webstack:ssh:limits:max_auth_tries"),
        ({"ssh": {"limits": {"max_startups": "10:30"}}}, "webstack:ssh:limits:max_startups"),
        ({"ssh": {"forwarding": "yes"}}, "webstack:ssh:forwarding"),
        ({"ssh": {"throttle": {"burst": -1}}}, "webstack:ssh:throttle:burst"),
    ],
)
def test_bad_pillar_names_the_key(validate, sections, key):
    errors = validate(sections)
    assert any(e.startswith(key + ":") for e in errors), errors


def test_a_host_name_from_the_pillar_is_set_outside_containers(render):
    pillar = with_settings(load_pillar("minimal"), base={"hostname": "web1.shop.example.com"})
    high = render("ubuntu-24.04", pillar, "base", roles=[])
    cmd = high["base-hostname-is-set"]["cmd"]
    assert {"name": "hostnamectl set-hostname web1"} in cmd
    assert {"names": ["web1.shop.example.com", "web1"]} in high["base-hosts-file-names-this-box"]["host"]
    assert "base-hostname-is-kept-by-cloud-init" in high


def test_no_host_name_in_the_pillar_leaves_it_alone(render):
    high = render("debian-12", load_pillar("minimal"), "base", roles=[])
    assert "base-hostname-is-set" not in high
    assert "base-hosts-file-names-this-box" in high


def test_every_box_trusts_the_fleets_ca_when_one_is_given(render):
    pillar = load_pillar("peer_tls")
    high = render("debian-12", pillar, "base", roles=[])
    ca = high["base-peer-tls-ca-file-holds-the-fleet-ca"]["file"]
    assert {"name": "/etc/webstack/peer-tls/ca.pem"} in ca and {"mode": "0644"} in ca
    assert {"contents": pillar["webstack"]["peer_tls"]["ca"]} in ca
    assert {"mode": "0755"} in high["base-peer-tls-directory-exists"]["file"]
    assert "base-peer-tls-directory-is-absent" not in high


def test_without_a_ca_no_trust_is_left_behind(render):
    high = render("debian-12", load_pillar("minimal"), "base", roles=[])
    assert {"name": "/etc/webstack/peer-tls"} in high["base-peer-tls-directory-is-absent"]["file"]
    assert "base-peer-tls-ca-file-holds-the-fleet-ca" not in high


def test_a_developer_named_like_the_project_user_fails_the_render(render):
    pillar = with_settings(load_pillar("minimal"), users={"developers": {"shop": {}}})
    with pytest.raises(RenderFailed, match="webstack:users:developers:shop: clashes with the project user"):
        render("debian-12", pillar, "users", roles=[])


def _context(state):
    return next(a["context"] for a in state["file"] if isinstance(a, dict) and "context" in a)


def _config(render, os_name, pillar=None):
    high = render(os_name, pillar or load_pillar("minimal"), "ssh", roles=[])
    lines = _context(high["ssh-server-config-is-ours"])["lines"]
    effective = next(
        a["settings"] for a in high["ssh-server-settings-are-in-effect"]["webstack_ssh"] if "settings" in a
    )
    return high, lines, effective


# ssh-audit's hardening guide of each release: the key exchanges it wants, in order.
KEX = {
    "debian-12": "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,"
    "curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
    "diffie-hellman-group-exchange-sha256",
    "ubuntu-22.04": "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha256",
    "ubuntu-24.04": "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
    "diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512",
    # OpenSSH 10: post-quantum key exchanges only.
    "debian-13": "mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com",
    "ubuntu-26.04": "mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com",
}
# The guides that put hmac-sha2-512 first.
MACS_512_FIRST = {"ubuntu-24.04", "ubuntu-26.04", "debian-13"}


@pytest.mark.parametrize("os_name", sorted(KEX))
def test_each_release_offers_only_its_guides_algorithms_with_limits(render, os_name):
    high, lines, effective = _config(render, os_name)
    assert f"KexAlgorithms {KEX[os_name]}" in lines
    macs = "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com"
    if os_name not in MACS_512_FIRST:
        macs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com"
    assert f"MACs {macs}" in lines
    assert (
        "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes256-ctr,aes192-ctr,"
        "aes128-gcm@openssh.com,aes128-ctr" in lines
    )
    # No ECDSA host key: one line per key, and sshd -T reads them back together.
    assert [line for line in lines if line.startswith("HostKey ")] == [
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "HostKey /etc/ssh/ssh_host_rsa_key",
    ]
    assert effective["HostKey"] == "/etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_rsa_key"
    for line in (
        "MaxAuthTries 3",
        "LoginGraceTime 30",
        "MaxStartups 10:30:60",
        "PerSourceMaxStartups 3",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "AllowStreamLocalForwarding no",
        "PermitTunnel no",
        "GatewayPorts no",
        "ModuliFile /etc/ssh/moduli.webstack",
        "AllowGroups developers sudo",
    ):
        assert line in lines, line
    assert effective["KexAlgorithms"] == KEX[os_name] and effective["AllowGroups"] == ["developers", "sudo"]
    # The moduli file keeps groups of 3072 bits and up (moduli counts 3071).
    moduli = high["ssh-moduli-holds-only-large-groups"]["cmd"]
    assert any("$5 >= 3071" in a.get("name", "") for a in moduli if isinstance(a, dict))
    keygen = high["ssh-rsa-host-key-has-4096-bits"]["cmd"]
    assert {"unless": "ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key.pub | grep -q '^4096 '"} in keygen


def test_forwarding_allowed_and_throttle_off_leave_nothing_behind(render):
    pillar = with_settings(load_pillar("minimal"), ssh={"forwarding": True, "throttle": {"enabled": False}})
    high, lines, _ = _config(render, "debian-12", pillar)
    for keyword in (
        "AllowTcpForwarding",
        "AllowAgentForwarding",
        "AllowStreamLocalForwarding",
        "PermitTunnel",
    ):
        assert f"{keyword} yes" in lines
    assert "GatewayPorts no" in lines and "X11Forwarding no" in lines
    assert "ssh-throttle-is-loaded" not in high
    assert {"enable": False} in high["ssh-throttle-is-unloaded"]["service"]
    absent = high["ssh-throttle-files-are-absent"]["file"]
    assert {
        "names": ["/etc/webstack/ssh-throttle.nft", "/etc/systemd/system/webstack-ssh-throttle.service"]
    } in absent


def test_without_an_rsa_host_key_none_is_made(render):
    pillar = with_settings(load_pillar("minimal"), ssh={"host_keys": ["ed25519"]})
    high, lines, _ = _config(render, "ubuntu-22.04", pillar)
    assert [line for line in lines if line.startswith("HostKey ")] == [
        "HostKey /etc/ssh/ssh_host_ed25519_key"
    ]
    assert not [sid for sid in high if sid.startswith("ssh-rsa-host-key")]


def test_the_throttle_limits_each_source_on_the_ssh_port(render):
    pillar = with_settings(
        load_pillar("minimal"), ssh={"port": 2222, "throttle": {"per_second": 2, "burst": 5}}
    )
    high = render("ubuntu-24.04", pillar, "ssh", roles=[])
    rules_state = high["ssh-throttle-rules-are-written"]["file"]
    assert {"check_cmd": "/usr/sbin/nft -c -f"} in rules_state
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    rules = env.from_string((FILES / "throttle.nft.jinja").read_text()).render(
        _context(high["ssh-throttle-rules-are-written"])
    )
    for family, addr in (("4", "ip"), ("6", "ip6")):
        meter = f"{{ {addr} saddr limit rate over 2/second burst 5 packets }}"
        assert f"tcp dport 2222 ct state new add @sources{family} {meter} counter drop" in rules
    unit = env.from_string((FILES / "throttle.service.jinja").read_text()).render(
        _context(high["ssh-throttle-unit-is-installed"])
    )
    assert "ExecStart=/usr/sbin/nft -f /etc/webstack/ssh-throttle.nft" in unit
    loaded = high["ssh-throttle-is-loaded"]["service"]
    assert {"name": "webstack-ssh-throttle"} in loaded
    assert {
        "watch": [{"file": "ssh-throttle-rules-are-written"}, {"file": "ssh-throttle-unit-is-installed"}]
    } in loaded
