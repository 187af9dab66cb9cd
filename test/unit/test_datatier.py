"""_modules/datatier.py (clients, listen addresses, sizes) and the schemas of
the data-tier roles (postgresql, rabbitmq, cache), through Salt's loader."""

import pytest


@pytest.fixture
def datatier(salt_loader):
    def make(peers=None, routes=None, own=("10.0.0.20",)):
        peers = peers or {}
        routes = routes or {}

        def get_route(ip):
            if ip not in routes:
                raise Exception(f"no route to {ip}")  # noqa: TRY002 - what network.get_route raises is broad
            return {"destination": ip, "source": routes[ip]}

        mods = salt_loader(
            fakes={
                "webstack.peers": lambda role: list(peers.get(role, [])),
                "network.ip_addrs": lambda: list(own),
                "network.ip_addrs6": lambda: [],
                "network.get_route": get_route,
            }
        ).salt
        return lambda fn, *a, **kw: mods[f"datatier.{fn}"](*a, **kw)

    return make


def test_clients_are_web_and_worker_peers_plus_the_pillars(datatier):
    dt = datatier(
        peers={"web": ["10.0.0.11", "10.0.0.10"], "worker": ["10.0.0.12", "10.0.0.10"], "db": ["10.9.9.9"]}
    )
    assert dt("clients", ["192.168.5.0/24"], roles=["web", "worker"]) == [
        "10.0.0.10",
        "10.0.0.11",
        "10.0.0.12",
        "192.168.5.0/24",
    ]


def test_a_box_is_not_its_own_client(datatier):
    # The demo box holds web and db: its own address among the web peers.
    dt = datatier(peers={"web": ["10.0.0.20"]}, own=["10.0.0.20"])
    assert dt("clients", roles=["web", "worker"]) == []


def test_no_clients_means_loopback_only(datatier):
    assert datatier()("listen_addresses", []) == ["127.0.0.1"]


def test_clients_add_the_address_facing_them(datatier):
    dt = datatier(routes={"10.0.0.10": "10.0.0.20", "10.0.0.11": "10.0.0.20", "192.168.5.0": "192.168.5.1"})
    assert dt("listen_addresses", ["10.0.0.10", "10.0.0.11", "192.168.5.0/24"]) == [
        "127.0.0.1",
        "10.0.0.20",
        "192.168.5.1",
    ]


def test_pinned_addresses_win(datatier):
    assert datatier()("listen_addresses", ["10.0.0.10"], ["10.0.0.20"]) == ["10.0.0.20"]


def test_a_client_without_a_route_is_an_error_naming_it(datatier):
    with pytest.raises(ValueError, match="no route to client 10.0.0.99"):
        datatier()("listen_addresses", ["10.0.0.99"])


@pytest.mark.parametrize(
    "address, network",
    [("10.0.0.5", "10.0.0.5/32"), ("10.0.0.0/24", "10.0.0.0/24"), ("fd00::5", "fd00::5/128")],
)
def test_cidr(datatier, address, network):
    assert datatier()("cidr", address) == network


@pytest.mark.parametrize(
    "size, nbytes, mb",
    [
        ("64m", 64 * 1024**2, 64),
        ("1g", 1024**3, 1024),
        ("512k", 512 * 1024, 1),
        ("2048", 2048, 1),
        ("3M", 3 * 1024**2, 3),
    ],
)
def test_sizes(datatier, size, nbytes, mb):
    dt = datatier()
    assert dt("size_bytes", size) == nbytes
    assert dt("size_mb", size) == mb


# -- the schemas -------------------------------------------------------------------


@pytest.fixture(scope="module")
def validate(tmp_path_factory):
    import salt.loader
    from conftest import minion_opts

    opts = minion_opts(tmp_path_factory.mktemp("datatier"))
    ws = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})

    def run(sections, roles=("db", "queue", "cache")):
        pillar = {"webstack": {"project": {"name": "shop"}, **sections}}
        return ws["webstack.validate"](pillar, {"roles": list(roles)})

    return run


SECRETS = {"postgresql": {"password": "db-secret-1"}, "rabbitmq": {"password": "mq-secret-1"}}


def test_secrets_are_all_a_data_box_needs(validate):
    assert validate(SECRETS) == []


# Which boxes need which password: test_required_keys.py, every role combination.


@pytest.mark.parametrize(
    "sections, key",
    [
        ({"postgresql": {"port": 70000}}, "webstack:postgresql:port"),
        ({"postgresql": {"password": "short"}}, "webstack:postgresql:password"),
        ({"postgresql": {"tuning": {"shared_buffers": "1 GB"}}}, "webstack:postgresql:tuning:shared_buffers"),
        ({"postgresql": {"tuning": {"shared_bufers": "1g"}}}, "webstack:postgresql:tuning:shared_bufers"),
        ({"postgresql": {"tuning": {"storage": "nvme"}}}, "webstack:postgresql:tuning:storage"),
        (
            {"postgresql": {"settings": {"shared_buffers": "1GB"}}},
            "webstack:postgresql:settings:shared_buffers",
        ),
        (
            {"postgresql": {"settings": {"listen_addresses": "*"}}},
            "webstack:postgresql:settings:listen_addresses",
        ),
        ({"postgresql": {"settings": {"Bad-Name": 1}}}, "webstack:postgresql:settings"),
        ({"postgresql": {"settings": {"log_min_duration_statement": [1]}}}, "webstack:postgresql:settings"),
        ({"postgresql": {"clients": ["everyone"]}}, "webstack:postgresql:clients:0"),
        ({"postgresql": {"bogus": 1}}, "webstack:postgresql:bogus"),
        ({"rabbitmq": {"memory_high_watermark": 1.5}}, "webstack:rabbitmq:memory_high_watermark"),
        ({"rabbitmq": {"memory_high_watermark": "lots"}}, "webstack:rabbitmq:memory_high_watermark"),
        ({"rabbitmq": {"nodename": "rabbit"}}, "webstack:rabbitmq:nodename"),
        ({"rabbitmq": {"vhost": "/"}}, "webstack:rabbitmq:vhost"),
        ({"cache": {"memcached": {"memory": "64 MB"}}}, "webstack:cache:memcached:memory"),
        ({"cache": {"memcached": {"enabled": "yes"}}}, "webstack:cache:memcached:enabled"),
        ({"cache": {"redis": {"port": 0}}}, "webstack:cache:redis:port"),
        ({"cache": {"redis": {"password": "has a space"}}}, "webstack:cache:redis:password"),
        ({"cache": {"redis": {"maxmemory_policy": "lru"}}}, "webstack:cache:redis:maxmemory_policy"),
        ({"cache": {"varnish": {}}}, "webstack:cache:varnish"),
    ],
)
def test_bad_values_name_the_key(validate, sections, key):
    merged = {**SECRETS}
    for name, section in sections.items():
        merged[name] = {**merged.get(name, {}), **section}
    errors = validate(merged)
    assert any(e.startswith(key + ":") for e in errors), errors


def test_good_values_pass(validate):
    sections = {
        "postgresql": {
            "password": "db-secret-1",
            "version": 16,
            "port": 5433,
            "clients": ["10.0.0.0/24"],
            "tuning": {
                "shared_buffers": "2g",
                "max_connections": 300,
                "storage": "hdd",
                "random_page_cost": 2,
            },
            "settings": {
                "log_min_duration_statement": "500ms",
                "jit": False,
                "auto_explain.log_min_duration": 1,
            },
        },
        "rabbitmq": {"password": "mq-secret-1", "memory_high_watermark": "1g", "vhost": "shop.prod"},
        "cache": {"redis": {"enabled": True, "password": "s3cret-token", "maxmemory": "1g"}},
    }
    assert validate(sections) == []


# -- the URLs the app gets (webstack._derive) ----------------------------------------


@pytest.fixture
def urls(salt_loader):
    def run(roles, **sections):
        pillar = {"webstack": {"project": {"name": "shop"}, "roles": roles, **SECRETS, **sections}}
        ldr = salt_loader(fakes={"mine.get": lambda *a, **kw: {}}, pillar=pillar, grains={"roles": []})
        return ldr.salt["webstack.settings"]()["urls"]

    return run


def test_cache_urls_on_the_cache_box(urls):
    out = urls(["web", "cache"], cache={"redis": {"enabled": True, "password": "p@ss/word"}})
    assert out["memcached"] == "127.0.0.1:11211"
    assert out["redis"] == "redis://:p%40ss%2Fword@127.0.0.1:6379/0"


def test_urls_point_at_the_peers_in_brackets_for_ipv6(urls):
    out = urls(["web"], peers={"cache": ["fd00::5"], "db": ["fd00::6"]}, cache={"redis": {"enabled": True}})
    assert out["memcached"] == "[fd00::5]:11211"
    assert out["redis"] == "redis://[fd00::5]:6379/0"
    assert out["database"] == "postgresql://shop:db-secret-1@[fd00::6]:5432/shop"


def test_no_cache_box_no_cache_urls(urls):
    out = urls(["web"])
    assert out["memcached"] is None and out["redis"] is None
