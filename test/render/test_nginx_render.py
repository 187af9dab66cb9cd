"""The nginx SLS compiled for our releases: what the rendered configuration
holds for each kind of pillar, and the pillars the schema turns away."""

import re

import pytest
from conftest import load_pillar, with_settings

CONFIG = "nginx-config-is-checked-then-installed"
SELF_SIGNED = "nginx-self-signed-certificate-names-the-site"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
CHAIN = "-----BEGIN CERTIFICATE-----\nMIIBchain\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n"


def site_pillar(**nginx):
    return with_settings(
        load_pillar("minimal"), project={"domains": ["shop.test", "www.shop.test"]}, nginx=nginx
    )


def args(high, state_id):
    """The arguments of a state as one dict."""
    body = high[state_id]
    fun_args = next(v for k, v in body.items() if not k.startswith("__"))
    out = {}
    for item in fun_args:
        if isinstance(item, dict):
            out.update(item)
    return out


def config(high):
    a = args(high, CONFIG)
    return {rel: spec["contents"] for rel, spec in a["files"].items()}, a


@pytest.fixture
def nginx_sls(render):
    def run(pillar, os_name="debian-12"):
        # No fleet roles: other roles' required keys stay out of these tests
        # (the schema's TLS rules are checked below through webstack.validate).
        return render(os_name, pillar, "nginx", roles=[])

    return run


def test_plain_http_site(nginx_sls):
    high = nginx_sls(site_pillar(client_max_body_size="25m"))
    files, a = config(high)
    main, catch_all, site = (
        files["nginx.conf"],
        files["sites-available/webstack-catch-all.conf"],
        files["sites-available/webstack-site.conf"],
    )
    assert "server_tokens off;" in main
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in main and "ssl_session_tickets off;" in main
    gzip_types = re.search(r"gzip_types([^;]*);", main).group(1).split()
    assert {"text/css", "application/javascript", "application/json"} <= set(gzip_types)
    # Relative includes: the staged copy must read its own files.
    assert "include sites-enabled/*;" in main and "/etc/nginx/" not in main
    assert "listen 80 default_server;" in catch_all and "return 444;" in catch_all
    assert "443" not in catch_all and "443" not in site
    assert "server unix:/run/shop/gunicorn.sock" in site and "keepalive 16;" in site
    assert "server_name shop.test www.shop.test;" in site
    assert "client_max_body_size 25m;" in site
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Upgrade", "Connection"):
        assert f"proxy_set_header {header} " in site
    assert "proxy_http_version 1.1;" in site
    assert "alias /srv/shop/shared/static/;" in site and "alias /srv/shop/shared/media/;" in site
    assert 'Cache-Control "public, max-age=31536000, immutable"' in site
    assert "Strict-Transport-Security" not in site
    assert a["links"] == {
        "sites-enabled/webstack-catch-all.conf": "../sites-available/webstack-catch-all.conf",
        "sites-enabled/webstack-site.conf": "../sites-available/webstack-site.conf",
    }
    assert set(a["absent"]) == {
        "sites-enabled/default",
        "tls/site.crt",
        "tls/site.key",
        "tls/site.chain.pem",
        "tls/selfsigned.crt",
        "tls/selfsigned.key",
        "tls/acme.crt",
        "tls/acme.key",
    }
    assert SELF_SIGNED not in high


def location(site, name):
    """The body of `location <name> { ... }` (its if-block included)."""
    return re.search(r"\n    location " + re.escape(name) + r" \{\n(.*?)\n    \}\n", site, re.S).group(1)


def test_upgrades_go_to_a_location_with_the_websocket_timeout(nginx_sls):
    files, _ = config(nginx_sls(site_pillar(proxy_read_timeout=45, websocket_timeout=900)))
    site = files["sites-available/webstack-site.conf"]
    plain, upgraded = location(site, "/"), location(site, "@upgraded")
    # Set on the server: an error_page in a location would drop those of nginx:extra.
    assert "\n    error_page 418 = @upgraded;\n" in site and "error_page" not in plain
    assert "if ($http_upgrade) {\n            return 418;\n        }" in plain
    assert "proxy_read_timeout 45s;" in plain and 'proxy_set_header Connection "";' in plain
    assert "Upgrade" not in plain.split("}")[1]
    assert "proxy_read_timeout 900s;" in upgraded
    assert "proxy_set_header Upgrade $http_upgrade;" in upgraded
    assert "proxy_set_header Connection upgrade;" in upgraded
    # Both pass the same request headers to the same upstream.
    for body in (plain, upgraded):
        assert "proxy_pass http://shop_gunicorn;" in body and "proxy_http_version 1.1;" in body
        for header in ("Host $host", "X-Forwarded-For $remote_addr", "X-Forwarded-Proto $forwarded_proto"):
            assert f"proxy_set_header {header};" in body


def test_self_signed_tls(nginx_sls):
    high = nginx_sls(site_pillar(tls={"enabled": True, "self_signed": True, "hsts_max_age": 600}))
    files, a = config(high)
    site, catch_all = (
        files["sites-available/webstack-site.conf"],
        files["sites-available/webstack-catch-all.conf"],
    )
    cert = args(high, SELF_SIGNED)
    assert cert["CN"] == "shop.test" and cert["subjectAltName"] == "DNS:shop.test, DNS:www.shop.test"
    assert args(high, "nginx-self-signed-key-exists")["mode"] == "0600"
    assert "ssl_certificate tls/selfsigned.crt;" in site
    assert "return 301 https://$host$request_uri;" in site
    # HSTS on the server and again in every location that sets its own headers
    # (static, media and the two pages).
    assert site.count('add_header Strict-Transport-Security "max-age=600" always;') == 5
    assert "ssl_stapling" not in site
    assert "ssl_reject_handshake on;" in catch_all and "listen 443 ssl http2 default_server;" in catch_all
    assert "tls/selfsigned.key" not in a["absent"] and "tls/site.key" in a["absent"]


def test_security_headers_everywhere_unless_the_app_sends_its_own(nginx_sls):
    headers = {"Referrer-Policy": None, "Content-Security-Policy": "frame-ancestors 'none'"}
    files, _ = config(nginx_sls(site_pillar(security_headers=headers)))
    site = files["sites-available/webstack-site.conf"]
    # The app's header when it sends one (the map's default: none of ours).
    assert (
        "map $upstream_http_content_security_policy $webstack_content_security_policy {\n"
        '    "" "frame-ancestors \'none\'";\n    default "";\n}'
    ) in site
    assert 'map $upstream_http_x_frame_options $webstack_x_frame_options {\n    "" "DENY";' in site
    # Server, /static/, /media/ (which sets nosniff itself, so not twice) and the two pages.
    assert site.count("add_header X-Frame-Options $webstack_x_frame_options always;") == 5
    assert site.count("add_header Content-Security-Policy $webstack_content_security_policy always;") == 5
    assert site.count("add_header X-Content-Type-Options $webstack_x_content_type_options always;") == 4
    assert "Referrer-Policy" not in site  # dropped by the pillar


def test_pillar_certificate_with_chain_staples_ocsp(nginx_sls):
    high = nginx_sls(site_pillar(tls={"enabled": True, "certificate": CERT, "key": KEY, "chain": CHAIN}))
    files, a = config(high)
    site = files["sites-available/webstack-site.conf"]
    assert files["tls/site.crt"] == CERT + CHAIN
    assert files["tls/site.chain.pem"] == CHAIN
    assert a["files"]["tls/site.key"] == {"contents": KEY, "mode": "0600", "secret": True}
    assert "ssl_certificate tls/site.crt;" in site and "ssl_certificate_key tls/site.key;" in site
    assert "ssl_stapling on;" in site and "ssl_trusted_certificate tls/site.chain.pem;" in site
    assert SELF_SIGNED not in high and "tls/selfsigned.key" in a["absent"]


def test_pillar_certificate_without_chain_does_not_staple(nginx_sls):
    high = nginx_sls(site_pillar(tls={"enabled": True, "certificate": CERT, "key": KEY, "hsts_max_age": 0}))
    files, a = config(high)
    site = files["sites-available/webstack-site.conf"]
    assert files["tls/site.crt"] == CERT
    assert "ssl_stapling" not in site and "tls/site.chain.pem" in a["absent"]
    assert "Strict-Transport-Security" not in site


@pytest.mark.parametrize(
    "os_name, rejects, http2_directive",
    [
        ("ubuntu-22.04", False, False),
        ("ubuntu-24.04", True, False),
        ("ubuntu-26.04", True, True),
        ("debian-12", True, False),
        ("debian-13", True, True),
    ],
)
def test_unknown_names_on_443_and_http2_per_release(nginx_sls, os_name, rejects, http2_directive):
    files, _ = config(nginx_sls(site_pillar(tls={"enabled": True, "self_signed": True}), os_name))
    catch_all = files["sites-available/webstack-catch-all.conf"]
    site = files["sites-available/webstack-site.conf"]
    assert ("ssl_reject_handshake on;" in catch_all) is rejects
    assert ("ssl_certificate tls/selfsigned.crt;" in catch_all) is not rejects
    assert "return 444;" in catch_all
    # nginx 1.25.1+ warns about `listen ... http2`: its own directive there.
    if http2_directive:
        assert "listen 443 ssl default_server;" in catch_all and "    http2 on;" in catch_all
        assert "listen 443 ssl;" in site and "    http2 on;" in site
        assert "http2;" not in catch_all + site and "http2 default_server" not in catch_all
    else:
        assert "listen 443 ssl http2 default_server;" in catch_all and "listen 443 ssl http2;" in site
        assert "http2 on;" not in catch_all + site


def test_trusted_proxies_and_extra(nginx_sls):
    files, _ = config(nginx_sls(site_pillar(trusted_proxies=["10.0.0.0/24"], extra="add_header X-A b;")))
    assert "set_real_ip_from 10.0.0.0/24;" in files["nginx.conf"]
    assert "        10.0.0.0/24 1;" in files["nginx.conf"]
    assert "\n    add_header X-A b;\n}" in files["sites-available/webstack-site.conf"]
    files, _ = config(nginx_sls(site_pillar()))
    assert "set_real_ip_from" not in files["nginx.conf"]


def test_without_domains_the_site_answers_to_the_box_name(nginx_sls):
    files, _ = config(nginx_sls(load_pillar("minimal")))
    names = re.search(r"server_name ([^;]*);", files["sites-available/webstack-site.conf"]).group(1)
    assert names and names != "_"


@pytest.fixture
def validate(salt_loader):
    ldr = salt_loader()
    return lambda pillar: ldr.salt["webstack.validate"](pillar, {"roles": ["web"]})


def test_example_and_demo_pillars_are_valid(validate):
    for name in ("demo", "example"):
        assert [e for e in validate(load_pillar(name)) if e.startswith("webstack:nginx")] == [], name


@pytest.mark.parametrize(
    "nginx, message",
    [
        ({"client_max_body_size": "10 MB"}, "webstack:nginx:client_max_body_size: '10 MB' is not a size"),
        ({"tls": {"certificate": CERT}}, "webstack:nginx:tls:key: is required"),
        ({"tls": {"key": KEY}}, "webstack:nginx:tls:certificate: is required"),
        ({"tls": {"enabled": True}}, "webstack:nginx:tls:certificate: is required"),
        ({"tls": {"certificate": "not a pem", "key": KEY}}, "webstack:nginx:tls:certificate:"),
        ({"tls": {"ciphers": ["AES128 ; evil"]}}, "webstack:nginx:tls:ciphers:0:"),
        ({"trusted_proxies": ["a.b.c.d"]}, "webstack:nginx:trusted_proxies:0: 'a.b.c.d' is not an IP"),
        ({"tls": {"hsts": 1}}, "webstack:nginx:tls:hsts: unknown key"),
        # A value that would break out of its quotes into nginx's config.
        (
            {"security_headers": {"X-Frame-Options": 'DENY"; return 200 "x'}},
            "webstack:nginx:security_headers:",
        ),
        ({"security_headers": {"X-Frame-Options": "DENY\n"}}, "webstack:nginx:security_headers:"),
        ({"security_headers": {"X-Frame-Options": "$host"}}, "webstack:nginx:security_headers:"),
        ({"security_headers": {"X Frame": "DENY"}}, "webstack:nginx:security_headers:"),
    ],
)
def test_bad_nginx_pillars_name_the_key(validate, nginx, message):
    errors = validate(site_pillar(**nginx))
    assert any(e.startswith(message) for e in errors), errors


def test_the_key_is_never_echoed_by_validation(validate):
    secret = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nSECRET\n-----END ENCRYPTED PRIVATE KEY-----\n"
    for tls in ({"key": secret}, {"key": secret, "certificate": "junk"}, {"enabled": True, "key": secret}):
        errors = validate(site_pillar(tls=tls))
        assert errors and not any("SECRET" in e for e in errors), errors


def test_maintenance_mode_and_error_pages(nginx_sls):
    maintenance = {"enabled": True, "allow": ["203.0.113.7", "10.1.0.0/16"], "retry_after": 120}
    pillar = with_settings(
        site_pillar(maintenance=maintenance),
        app={"health_check": "/up/"},
        balancer={"health_check": {"path": "/lb-check"}},
    )
    high = nginx_sls(pillar)
    files, _ = config(high)
    site = files["sites-available/webstack-site.conf"]
    switch = args(high, "nginx-maintenance-mode-is-as-the-pillar-says")
    assert (switch["name"], switch["enabled"]) == ("/srv/shop/maintenance", True)
    # The allow-list, by the client's address.
    geo = re.search(r"geo \$webstack_maintenance_allowed \{\n(.*?)\n\}", site, re.S).group(1)
    assert geo.split("\n") == ['    default "";', "    203.0.113.7 1;", "    10.1.0.0/16 1;"]
    # A file test per request on the server: on before any location, then the
    # exemptions (the health checks and the pages themselves) turn it off.
    server = site.split("\n    location ")[0]
    assert "    if (-f /srv/shop/maintenance) {\n        set $webstack_maintenance on;\n    }" in server
    for path in ("/up/", "/lb-check", "/.webstack/maintenance.html", "/.webstack/error.html"):
        assert f'    if ($uri = {path}) {{\n        set $webstack_maintenance "";\n    }}' in server
    assert server.index("-f /srv/shop/maintenance") < server.index("$webstack_maintenance_allowed)")
    assert "\n    error_page 502 503 504 /.webstack/$webstack_page.html;\n" in server
    assert "return 503;" in server and "proxy_intercept_errors on" not in site
    # Each page: the live release's own, else ours; Retry-After on maintenance only.
    for name in ("maintenance", "error"):
        body = location(site, f"= /.webstack/{name}.html")
        assert "internal;" in body and "root /;" in body
        assert (
            f"try_files /srv/shop/current/webstack/{name}.html /etc/nginx/webstack/{name}.html =500;" in body
        )
        assert ("add_header Retry-After 120 always;" in body) == (name == "maintenance")
        assert "add_header X-Frame-Options $webstack_x_frame_options always;" in body
        page = files[f"webstack/{name}.html"]
        assert page.startswith("<!DOCTYPE html>") and "nginx" not in page.lower()
    # Off by default, nobody allowed: the pages and the switch stay in place.
    high = nginx_sls(site_pillar())
    files, _ = config(high)
    assert args(high, "nginx-maintenance-mode-is-as-the-pillar-says")["enabled"] is False
    assert (
        'geo $webstack_maintenance_allowed {\n    default "";\n}'
        in files["sites-available/webstack-site.conf"]
    )
    assert "if ($uri = /health/)" in files["sites-available/webstack-site.conf"]
