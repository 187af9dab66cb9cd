"""The balancer's helpers (_modules/balancer.py), webstack.peers (the mine
and the pillar) and haproxy.cfg as the template renders it."""

import pytest
import salt.client
import yaml
from conftest import HOST_GRAINS, OS_GRAINS, minion_opts
from salt.exceptions import CommandExecutionError

MINE = {
    "web2": ["10.0.0.12", "172.17.0.1"],
    "web1": ["10.0.0.9"],
    "web10": ["10.0.0.10"],
    "broken": "network.ip_addrs is not available",
    "empty": [],
}


def fake_mine(calls):
    def get(tgt, fun, tgt_type="glob"):
        calls.append((tgt, fun, tgt_type))
        return dict(MINE) if tgt == "roles:web" else {}

    return get


@pytest.fixture
def mined(salt_loader):
    calls = []
    ldr = salt_loader(fakes={"mine.get": fake_mine(calls)}, pillar={"webstack": {}})
    return ldr.salt, calls


# -- webstack.peers --------------------------------------------------------


def test_peers_come_from_the_mine_by_roles_grain(mined):
    salt_, calls = mined
    assert salt_["webstack.peers"]("web") == ["10.0.0.9", "10.0.0.10", "10.0.0.12"]
    assert calls == [("roles:web", "network.ip_addrs", "grain")]


def test_peers_with_ids_pair_minion_and_lowest_address(mined):
    salt_, _ = mined
    assert salt_["webstack.peers"]("web", ids=True) == [
        ["web1", "10.0.0.9"],
        ["web10", "10.0.0.10"],
        ["web2", "10.0.0.12"],
    ]


def test_peers_of_a_role_nobody_holds_are_empty(mined):
    salt_, _ = mined
    assert salt_["webstack.peers"]("db") == []


def test_peers_from_the_pillar_win_and_sort_by_number(salt_loader):
    def no_mine(*args, **kwargs):
        raise AssertionError("the mine must not be asked when the pillar lists peers")

    pillar = {"webstack": {"peers": {"web": ["10.0.0.10", "10.0.0.9", "10.0.1.0/24"]}}}
    salt_ = salt_loader(fakes={"mine.get": no_mine}, pillar=pillar).salt
    assert salt_["webstack.peers"]("web") == ["10.0.0.9", "10.0.0.10", "10.0.1.0/24"]
    assert salt_["webstack.peers"]("web", ids=True)[0] == ["10.0.0.9", "10.0.0.9"]


# -- balancer.servers / hosts / check_host -----------------------------------


def test_servers_are_named_by_minion_and_sorted_by_address(mined):
    salt_, _ = mined
    assert salt_["balancer.servers"](8080) == [
        {"name": "web1", "address": "10.0.0.9", "port": 8080},
        {"name": "web10", "address": "10.0.0.10", "port": 8080},
        {"name": "web2", "address": "10.0.0.12", "port": 8080},
    ]


def test_servers_from_the_pillar_take_ipv6_in_brackets(salt_loader):
    pillar = {"webstack": {"peers": {"web": ["fd00::2", "10.0.0.5"]}}}
    servers = salt_loader(pillar=pillar).salt["balancer.servers"]()
    assert [(s["name"], s["address"]) for s in servers] == [
        ("10.0.0.5", "10.0.0.5"),
        ("fd00::2", "[fd00::2]"),
    ]


def test_a_network_among_web_peers_is_refused_naming_the_key(salt_loader):
    pillar = {"webstack": {"peers": {"web": ["10.0.0.0/24"]}}}
    with pytest.raises(CommandExecutionError, match=r"webstack:peers:web: '10.0.0.0/24' is a network"):
        salt_loader(pillar=pillar).salt["balancer.servers"]()


def test_hosts_split_exact_names_and_wildcards(salt_loader):
    hosts = salt_loader().salt["balancer.hosts"](
        ["Shop.example.com", "*.shop.example.com", "shop.example.com"]
    )
    assert hosts == {"exact": ["shop.example.com"], "suffixes": [".shop.example.com"]}


def test_check_host_is_the_first_plain_name(salt_loader):
    check_host = salt_loader().salt["balancer.check_host"]
    assert check_host(["*.example.com", "www.example.com"]) == "www.example.com"
    with pytest.raises(CommandExecutionError, match="webstack:project:domains"):
        check_host(["*.example.com"])
    with pytest.raises(CommandExecutionError, match="webstack:project:domains"):
        check_host([])


# -- haproxy.cfg -------------------------------------------------------------


@pytest.fixture
def haproxy_cfg(tmp_path):
    """haproxy.cfg rendered by Salt for a pillar (web peers listed there)."""

    def render(webstack, os_name="debian-12"):
        (tmp_path / "pillar").mkdir(exist_ok=True)
        (tmp_path / "pillar" / "top.sls").write_text("base:\n  '*':\n    - site\n")
        (tmp_path / "pillar" / "site.sls").write_text(yaml.safe_dump({"webstack": webstack}))
        grains = {**HOST_GRAINS, **OS_GRAINS[os_name], "roles": ["balancer"]}
        caller = salt.client.Caller(mopts=minion_opts(tmp_path, grains, tmp_path / "pillar"))
        dest = tmp_path / "haproxy.cfg"
        out = caller.cmd("cp.get_template", "salt://balancer/files/haproxy.cfg.jinja", str(dest))
        assert out, f"the template did not render: {out!r}"
        return dest.read_text()

    return render


BASE = {
    "project": {"name": "shop", "domains": ["shop.example.com", "*.cdn.example.com"]},
    "peers": {"web": ["10.0.0.12", "10.0.0.11"]},
}


def lines(text):
    return [line.strip() for line in text.splitlines()]


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_config_balances_the_web_peers_with_health_checks(haproxy_cfg, os_name):
    cfg = lines(haproxy_cfg(BASE, os_name))
    servers = [line for line in cfg if line.startswith("server ")]
    assert servers == ["server 10.0.0.11 10.0.0.11:80", "server 10.0.0.12 10.0.0.12:80"]
    assert "option httpchk" in cfg
    assert "http-check send meth GET uri /health/ ver HTTP/1.1 hdr Host shop.example.com" in cfg
    assert "http-check expect status 200" in cfg
    assert "default-server check inter 2s rise 2 fall 2" in cfg
    # An upgraded connection (a WebSocket) lives by its own timeout, an hour by default.
    assert "timeout tunnel 3600s" in cfg
    assert "option forwardfor" in cfg
    # What the client claims is dropped before haproxy adds the real one.
    assert cfg.index("http-request del-header X-Forwarded-For") < cfg.index("option forwardfor")


def test_unknown_hosts_get_the_connection_closed(haproxy_cfg):
    cfg = lines(haproxy_cfg(BASE))
    assert "acl site_host req.hdr(host),field(1,:),lower -m str shop.example.com" in cfg
    assert "acl site_host req.hdr(host),field(1,:),lower -m end .cdn.example.com" in cfg
    reject = cfg.index("http-request reject unless site_host")
    # Before anything else answers (the redirect, the backend).
    assert reject < cfg.index("default_backend web")


def test_plain_http_only_without_tls(haproxy_cfg):
    cfg = haproxy_cfg(BASE)
    assert "bind :::80 v4v6" in cfg
    assert ":443" not in cfg and "redirect" not in cfg and "Strict-Transport-Security" not in cfg


def test_tls_binds_443_redirects_http_and_sends_hsts(haproxy_cfg):
    cfg = lines(haproxy_cfg({**BASE, "balancer": {"tls": {"enabled": True, "self_signed": True}}}))
    assert "bind :::443 v4v6 ssl crt /etc/haproxy/tls/selfsigned.pem alpn h2,http/1.1" in cfg
    redirect = next(line for line in cfg if line.startswith("http-request redirect"))
    assert (
        "https://%[req.hdr(host),field(1,:),lower]%[capture.req.uri] code 301 unless { ssl_fc }" in redirect
    )
    assert cfg.index("http-request reject unless site_host") < cfg.index(redirect)
    assert 'http-response set-header Strict-Transport-Security "max-age=63072000" if { ssl_fc }' in cfg
    assert "ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets" in cfg


def test_pillar_certificate_is_one_bundle(haproxy_cfg):
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    tls = {"enabled": True, "certificate": cert, "key": "-----BEGIN PRIVATE KEY-----\nMIIE\n"}
    cfg = haproxy_cfg({**BASE, "balancer": {"tls": tls}})
    assert "ssl crt /etc/haproxy/tls/site.pem " in cfg


def test_settings_reach_the_config(haproxy_cfg):
    balancer = {
        "backend_port": 8080,
        "balance": "leastconn",
        "health_check": {"path": "/up", "interval": 5, "rise": 3, "fall": 4},
        "timeouts": {"connect": 3, "client": 30, "server": 90, "http_request": 5, "tunnel": 600},
        "maxconn": 2000,
    }
    cfg = lines(haproxy_cfg({**BASE, "balancer": balancer}))
    assert "balance leastconn" in cfg
    assert "server 10.0.0.11 10.0.0.11:8080" in cfg
    assert "http-check send meth GET uri /up ver HTTP/1.1 hdr Host shop.example.com" in cfg
    assert "default-server check inter 5s rise 3 fall 4" in cfg
    assert {
        "timeout connect 3s",
        "timeout client 30s",
        "timeout server 90s",
        "timeout http-request 5s",
        "timeout tunnel 600s",
    } <= set(cfg)
    assert "maxconn 2000" in cfg


def test_no_web_host_yet_leaves_an_empty_backend(haproxy_cfg):
    cfg = haproxy_cfg({**BASE, "peers": {"web": []}})
    assert not [line for line in lines(cfg) if line.startswith("server ")]
    assert "No web host known yet" in cfg


def test_acme_routes_the_challenge_to_certbot_before_the_redirect(haproxy_cfg):
    tls = {
        "enabled": True,
        "acme": {"enabled": True, "email": "ops@example.com", "directory": "https://acme.test/dir"},
    }
    cfg = lines(
        haproxy_cfg(
            {**BASE, "project": {"name": "shop", "domains": ["shop.example.com"]}, "balancer": {"tls": tls}}
        )
    )
    assert "bind :::443 v4v6 ssl crt /etc/haproxy/tls/acme.pem alpn h2,http/1.1" in cfg
    route = cfg.index("use_backend acme if acme_challenge !{ ssl_fc }")
    redirect = next(i for i, line in enumerate(cfg) if line.startswith("http-request redirect"))
    assert cfg[redirect].endswith("unless { ssl_fc } || acme_challenge")
    assert cfg.index("http-request reject unless site_host") < route < redirect
    assert cfg[cfg.index("backend acme") + 2] == "server certbot 127.0.0.1:8402"
