"""webstack.validate / webstack.settings through Salt's loader."""

import pytest

from tools.harness.dockerbox import REPO


@pytest.fixture
def ws(salt_loader):
    return salt_loader().salt


def test_minimal_pillar_is_valid(ws):
    assert ws["webstack.validate"]({"webstack": {"project": {"name": "shop"}}}, {"roles": []}) == []


@pytest.mark.parametrize(
    "webstack, key",
    [
        ({"project": {"name": "Shop!"}}, "webstack:project:name"),
        ({"project": {"name": "shop", "domains": ["bad_domain"]}}, "webstack:project:domains:0"),
        ({"project": {"name": "shop"}, "roles": ["wbe"]}, "webstack:roles"),
        ({"project": {"name": "shop"}, "bogus": 1}, "webstack:bogus"),
        ({"project": {"name": "shop"}, "peers": {"db": ["not-an-ip"]}}, "webstack:peers:db:0"),
    ],
)
def test_bad_pillar_names_the_key(ws, webstack, key):
    errors = ws["webstack.validate"]({"webstack": webstack}, {"roles": []})
    assert any(e.startswith(key + ":") for e in errors), errors


# -- what follows from the settings (webstack._derive, from each component.yaml) ----

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


@pytest.fixture
def derived(salt_loader):
    def run(roles, **sections):
        pillar = {
            "webstack": {
                "project": {"name": "shop", "domains": ["*.shop.example", "shop.example"]},
                "roles": roles,
                "postgresql": {"password": "db-secret-1"},
                "rabbitmq": {"password": "mq-secret-1"},
                **sections,
            }
        }
        ldr = salt_loader(fakes={"mine.get": lambda *a, **kw: {}}, pillar=pillar, grains={"roles": []})
        return ldr.salt["webstack.settings"]()

    return run


def test_the_run_directory_and_socket_come_from_the_project_name(derived):
    app = derived(["web"])["app"]
    assert (app["run_dir"], app["socket"]) == ("/run/shop", "/run/shop/gunicorn.sock")
    assert app["shared_dir"] == "/srv/shop/shared" and app["wsgi"] == "shop.wsgi:application"


@pytest.mark.parametrize(
    "app, serves",
    [
        ({}, ("shop.wsgi:application", None)),
        ({"server": "asgi"}, ("shop.asgi:application", "uvicorn.workers.UvicornWorker")),
        (
            {"server": "asgi", "asgi": "shop.routing:app"},
            ("shop.routing:app", "uvicorn.workers.UvicornWorker"),
        ),
        ({"wsgi": "shop.web:app", "asgi": "shop.routing:app"}, ("shop.web:app", None)),
    ],
    ids=["wsgi-default", "asgi-default", "asgi-set", "wsgi-set"],
)
def test_the_server_chooses_what_gunicorn_serves_and_its_workers(derived, app, serves):
    got = derived(["web"], app=app)["app"]
    assert (got["app_module"], got["worker_class"]) == serves
    # gunicorn's arguments for them, the live server's and the health check's.
    module, worker_class = serves
    assert got["app_args"] == (["--worker-class", worker_class, module] if worker_class else [module])


def test_the_apps_environment_holds_what_the_components_export(derived):
    exports = derived(["web"], app={"celery": "shop"})["exports"]
    assert exports["ALLOWED_HOSTS"] == "*.shop.example,shop.example,localhost"
    assert exports["DATABASE_URL"] == "postgresql://shop:db-secret-1@127.0.0.1:5432/shop"
    assert exports["CELERY_BROKER_URL"] == "amqp://shop:mq-secret-1@127.0.0.1:5672/shop"
    assert exports["MEDIA_ROOT"] == "/srv/shop/shared/media"
    assert "memcached" not in str(exports).lower(), "the cache URLs are not in the app's environment"
    # No Celery: no broker URL (and no broker password needed).
    assert "CELERY_BROKER_URL" not in derived(["web"])["exports"]


def test_tls_off_removes_every_certificate_file(derived):
    tls = derived(["web"])["nginx"]["tls"]
    assert tls["source"] == "off" and tls["files"] == {}
    assert tls["unused"] == [
        "tls/site.crt",
        "tls/site.key",
        "tls/site.chain.pem",
        "tls/selfsigned.crt",
        "tls/selfsigned.key",
        "tls/acme.crt",
        "tls/acme.key",
    ]


def test_a_pillar_certificate_with_its_chain(derived):
    tls = derived(["web"], nginx={"tls": {"enabled": True, "certificate": CERT, "key": "k", "chain": CERT}})[
        "nginx"
    ]["tls"]
    assert tls["source"] == "pillar"
    assert tls["files"] == {"cert": "tls/site.crt", "key": "tls/site.key", "chain": "tls/site.chain.pem"}
    assert tls["paths"]["key"] == "/etc/nginx/tls/site.key" and tls["dir"] == "/etc/nginx/tls"
    assert tls["unused"] == ["tls/selfsigned.crt", "tls/selfsigned.key", "tls/acme.crt", "tls/acme.key"]
    no_chain = derived(["web"], nginx={"tls": {"enabled": True, "certificate": CERT, "key": "k"}})["nginx"][
        "tls"
    ]
    assert "chain" not in no_chain["files"] and "tls/site.chain.pem" in no_chain["unused"]


def test_nginx_and_haproxy_share_the_tls_handling(derived):
    on = {"tls": {"enabled": True, "self_signed": True}}
    ws = derived(["web", "balancer"], nginx=on, balancer=on)
    nginx, haproxy = ws["nginx"]["tls"], ws["balancer"]["tls"]
    assert nginx["paths"] == {"cert": "/etc/nginx/tls/selfsigned.crt", "key": "/etc/nginx/tls/selfsigned.key"}
    assert haproxy["paths"] == {
        "cert": "/etc/haproxy/tls/selfsigned.pem",
        "key": "/etc/haproxy/tls/selfsigned.pem.key",
    }
    assert haproxy["unused_paths"] == [
        "/etc/haproxy/tls/site.pem",
        "/etc/haproxy/tls/acme.pem",
        "/etc/haproxy/tls/acme.pem.key",
    ]
    # The names a self-signed certificate carries; its CN is not a wildcard.
    for tls in (nginx, haproxy):
        assert tls["names"] == ["*.shop.example", "shop.example"] and tls["common_name"] == "shop.example"
    assert nginx["ciphers"] == haproxy["ciphers"] and nginx["hsts_max_age"] == haproxy["hsts_max_age"] > 0


def test_postgresql_layout_and_packages_follow_the_release(derived):
    ws = derived(["db"])
    pg = ws["postgresql"]
    assert (pg["conf_dir"], pg["service"]) == ("/etc/postgresql/15/main", "postgresql@15-main")
    assert ws["facts"]["postgresql"]["packages"] == [
        {"names": ["postgresql-15"], "daemons": ["postgresql", "postgresql@15-main"]}
    ]
    assert pg["conf"]["shared_buffers"] and pg["listen_addresses"] == ["127.0.0.1"]


def test_supervisor_waits_for_the_brokers_users_only_beside_them_for_celery(derived):
    celery = {"celery": "shop"}
    assert derived(["web", "queue"], app=celery)["after"]["supervisor"] == ["rabbitmq.users"]
    assert derived(["web"], app=celery)["after"]["supervisor"] == []
    assert derived(["web", "queue"])["after"]["supervisor"] == []


def test_a_bad_component_declaration_is_refused_naming_the_file(salt_loader):
    def files(path, *a, **kw):
        if path == "salt://cache/component.yaml":
            return "ports:\n  - label: memcached\n    prot: 11211\n"
        local = REPO / "salt" / "states" / path.removeprefix("salt://")
        return local.read_text() if local.is_file() else False

    ldr = salt_loader(fakes={"cp.get_file_str": files}, pillar={"webstack": {"project": {"name": "shop"}}})
    with pytest.raises(Exception, match=r"salt://cache/component.yaml is not a component declaration") as err:
        ldr.salt["webstack.declarations"]()
    assert "'port' is a required property" in str(err.value)
    assert "'prot' was unexpected" in str(err.value)
