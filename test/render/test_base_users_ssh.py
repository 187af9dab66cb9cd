"""The base, users and ssh roles without a box: their pillar sections (good
ones pass, bad ones fail naming the key), and what only renders can show
(host names are left alone in containers, so the container tests can't).
"""

import pytest
from conftest import RenderFailed, load_pillar, with_settings

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
