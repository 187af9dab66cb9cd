"""The postgresql, rabbitmq and cache SLS compiled for our releases, and the
files they would write (their templates rendered through Salt with the
context the SLS passes); which states run in parallel, and who waits for them."""

import pytest
from conftest import OS_GRAINS, load_pillar, with_settings

from tools.harness.dockerbox import REPO

STATES = REPO / "salt" / "states"
VERSIONS = {
    "debian-12": "15",
    "debian-13": "17",
    "ubuntu-22.04": "14",
    "ubuntu-24.04": "16",
    "ubuntu-26.04": "18",
}
STATES_UNDER_TEST = ("postgresql", "rabbitmq", "cache")
CLIENTS = ["10.0.0.31", "10.0.1.0/24"]
# Listen addresses pinned: the route to the clients is the test host's own business.
HERE = ["127.0.0.1", "10.0.0.20"]

# Other boxes connect: the fleet's CA and this box's certificate (PostgreSQL
# lets them in over TLS only).
PEER_TLS = load_pillar("peer_tls")["webstack"]["peer_tls"]
PILLAR = with_settings(
    load_pillar("minimal"),
    peer_tls=PEER_TLS,
    postgresql={
        "clients": CLIENTS,
        "listen_addresses": HERE,
        "settings": {"log_min_duration_statement": "1s"},
    },
    rabbitmq={"clients": CLIENTS, "listen_addresses": HERE, "memory_high_watermark": "1g"},
    cache={
        "clients": CLIENTS,
        "listen_addresses": HERE,
        "memcached": {"memory": "32m"},
        "redis": {"enabled": True, "password": "redis-s3cret", "maxmemory": "100m", "persistent": True},
    },
)


def args(high, state_id):
    """The arguments of a state as one dict."""
    fun_args = next(v for k, v in high[state_id].items() if not k.startswith("__"))
    out = {}
    for item in fun_args:
        if isinstance(item, dict):
            out.update(item)
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A file.managed state's file as Salt would render it."""
    import salt.loader
    from conftest import HOST_GRAINS, minion_opts

    opts = minion_opts(tmp_path_factory.mktemp("templates"), grains=HOST_GRAINS)
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})

    def run(high, state_id):
        a = args(high, state_id)
        source = STATES / a["source"].removeprefix("salt://")
        return mods["file.apply_template_on_contents"](
            contents=source.read_text(), template="jinja", context=a["context"], defaults=None, saltenv="base"
        )

    return run


_HIGH = {}


@pytest.fixture(params=sorted(OS_GRAINS))
def rendered(request, render):
    """The three SLS for one release, compiled once for the tests below."""
    os_name = request.param
    if os_name not in _HIGH:
        _HIGH[os_name] = {
            sls: render(os_name, PILLAR, sls, roles=["db", "queue", "cache"]) for sls in STATES_UNDER_TEST
        }
    return os_name, _HIGH[os_name]


def test_postgresql_follows_the_release(rendered):
    os_name, high = rendered
    version = VERSIONS[os_name]
    pg = high["postgresql"]
    assert args(pg, "postgresql-server-is-installed")["pkgs"] == [f"postgresql-{version}"]
    conf = args(pg, "postgresql-settings-are-sized-for-this-host")
    assert conf["name"] == f"/etc/postgresql/{version}/main/conf.d/50-webstack.conf"
    assert (
        f"/usr/lib/postgresql/{version}/bin/postgres -D /var/lib/postgresql/{version}/main"
        in conf["check_cmd"]
    )
    assert args(pg, "postgresql-cluster-applies-its-configuration")["name"] == f"postgresql@{version}-main"
    assert (
        args(pg, "postgresql-lets-in-only-its-clients")["name"]
        == f"/etc/postgresql/{version}/main/pg_hba.conf"
    )
    user = args(pg, "postgresql-app-role-logs-in-with-its-password")
    assert (user["name"], user["encrypted"], user["password"]) == (
        "shop",
        "scram-sha-256",
        "minimal-db-secret",
    )


def test_postgresql_files(rendered, template):
    _, high = rendered
    conf = template(high["postgresql"], "postgresql-settings-are-sized-for-this-host")
    lines = set(conf.splitlines())
    assert {
        "listen_addresses = '127.0.0.1,10.0.0.20'",
        "password_encryption = 'scram-sha-256'",
        "port = 5432",
        # conftest's HOST_GRAINS: 4096 MB, 2 CPUs.
        "shared_buffers = '1GB'",
        "log_min_duration_statement = '1s'",
    } <= lines
    hba = template(high["postgresql"], "postgresql-lets-in-only-its-clients")
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules == [
        ["local", "all", "all", "peer"],
        ["local", "replication", "all", "peer"],
        ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
        ["host", "all", "all", "::1/128", "scram-sha-256"],
        ["hostssl", "shop", "shop", "10.0.0.31/32", "scram-sha-256"],
        ["hostssl", "shop", "shop", "10.0.1.0/24", "scram-sha-256"],
    ]
    version = VERSIONS[rendered[0]]
    assert {"ssl = 'on'", f"ssl_cert_file = '/etc/postgresql/{version}/main/peer-tls.crt'"} <= lines
    key = args(high["postgresql"], "postgresql-has-its-key-for-peers")
    assert (key["contents"], key["user"], key["mode"]) == (PEER_TLS["key"], "postgres", "0600")


# -- replication: a primary with two replicas, and one of them -----------------------

REPLICAS = ["10.0.0.7", "10.0.0.8"]
FLEET = with_settings(
    load_pillar("minimal"),
    peer_tls=PEER_TLS,
    peers={"db": ["10.0.0.5"], "db_replica": REPLICAS, "web": ["10.0.0.31"]},
    postgresql={"listen_addresses": HERE, "replication": {"password": "repl-s3cret", "synchronous": True}},
)


def test_the_primary_makes_the_replicas_slots_and_lets_them_stream(render, template):
    # (The render host is not 10.0.0.5: as the primary, it lists no other.)
    high = render("debian-12", with_settings(FLEET, peers={"db": []}), "postgresql", roles=["db"])
    slots = args(high, "postgresql-keeps-a-slot-for-each-replica")
    assert slots["slots"] == ["webstack_10_0_0_7", "webstack_10_0_0_8"]
    role = args(high, "postgresql-replication-role-logs-in-with-its-password")
    assert (role["name"], role["replication"], role["password"]) == ("replicator", True, "repl-s3cret")
    hba = [line.split() for line in template(high, "postgresql-lets-in-only-its-clients").splitlines()]
    assert ["hostssl", "shop", "shop", "10.0.0.31/32", "scram-sha-256"] in hba
    assert [r for r in hba if r[:2] == ["hostssl", "replication"]] == [
        ["hostssl", "replication", "replicator", f"{replica}/32", "scram-sha-256"] for replica in REPLICAS
    ]
    conf = set(template(high, "postgresql-settings-are-sized-for-this-host").splitlines())
    assert {
        "max_slot_wal_keep_size = '8192MB'",
        "synchronous_standby_names = 'ANY 1 (webstack_10_0_0_7, webstack_10_0_0_8)'",
    } <= conf
    assert "postgresql-replica-is-built-from-the-primary" not in high
    check = args(high, "postgresql-replication-check-runs-on-its-timer")
    assert check["name"] == "webstack-replication-status.timer"
    # On its way up, the primary asks its replicas whether one was promoted.
    fence = {
        next(iter(n)): n[next(iter(n))]
        for n in args(high, "postgresql-fence-asks-the-replicas-before-a-start")["names"]
    }
    assert fence["/etc/postgresql/15/main/fence-peers"][0]["contents"] == "10.0.0.7\n10.0.0.8\n"
    dropin = fence["/etc/systemd/system/postgresql@15-main.service.d/webstack-fence.conf"][0]["contents"]
    assert "ExecStartPre=/usr/local/lib/webstack/postgresql-fence /var/lib/postgresql/15/main " in dropin


def test_without_replicas_there_is_no_replication_check(rendered):
    _, high = rendered
    assert "postgresql-replication-check-is-stopped" in high["postgresql"]
    assert "postgresql-has-no-replication-files" in high["postgresql"]
    assert "postgresql-keeps-a-slot-for-each-replica" in high["postgresql"]  # none: any old one dropped


def test_a_replica_is_built_from_the_primary_and_makes_no_database_of_its_own(render, template):
    high = render("debian-12", FLEET, "postgresql", roles=["db_replica"])
    built = args(high, "postgresql-replica-is-built-from-the-primary")
    assert (built["name"], built["primary"], built["service"]) == (
        "/var/lib/postgresql/15/main",
        "10.0.0.5",
        "postgresql@15-main",
    )
    assert built["slot"].startswith("webstack_") and "sslmode='verify-full'" in built["conninfo"]
    passfile = args(high, "postgresql-knows-the-replication-password")
    assert (passfile["contents"], passfile["mode"]) == ("*:*:*:replicator:repl-s3cret\n", "0600")
    assert not {
        "postgresql-app-role-logs-in-with-its-password",
        "postgresql-app-database-belongs-to-its-role",
        "postgresql-keeps-a-slot-for-each-replica",
    } & set(high)
    assert "postgresql-replication-check-runs-on-its-timer" in high
    conf = template(high, "postgresql-settings-are-sized-for-this-host")
    assert (
        "primary_conninfo = 'host=''10.0.0.5'' application_name=''webstack_" in conf
        and "hot_standby_feedback = 'on'" in conf
    )


def test_rabbitmq_files(rendered, template):
    _, high = rendered
    conf = template(high["rabbitmq"], "rabbitmq-listens-where-its-clients-are")
    assert "listeners.tcp.1 = 127.0.0.1:5672\nlisteners.tcp.2 = 10.0.0.20:5672\n" in conf
    assert f"vm_memory_high_watermark.absolute = {1024**3}" in conf
    env = template(high["rabbitmq"], "rabbitmq-node-keeps-erlang-ports-on-loopback")
    assert "NODENAME=rabbit@localhost" in env
    user = args(high["rabbitmq"], "rabbitmq-app-user-has-its-vhost-only")
    assert user["perms"] == [{"shop": [".*", ".*", ".*"]}]
    # The password goes through rabbitmqctl's stdin (rabbitmq_password), never its argv.
    assert "password" not in user
    password = args(high["rabbitmq"], "rabbitmq-app-user-logs-in-with-its-password")["password"]
    assert password == PILLAR["webstack"]["rabbitmq"]["password"]


def test_cache_files(rendered, template):
    _, high = rendered
    memcached = template(high["cache"], "cache-memcached-listens-where-its-clients-are").splitlines()
    assert {"-l 127.0.0.1,10.0.0.20", "-p 11211", "-U 0", "-m 32", "-u memcache"} <= set(memcached)
    redis = template(high["cache"], "cache-redis-listens-where-its-clients-are").splitlines()
    assert {
        "bind 127.0.0.1 10.0.0.20",
        'requirepass "redis-s3cret"',
        f"maxmemory {100 * 1024**2}",
        "save 3600 1 300 100 60 10000",
    } <= set(redis)
    assert args(high["cache"], "cache-packages-are-installed")["pkgs"] == ["memcached", "redis-server"]


def test_redis_serving_other_hosts_needs_a_password(render):
    from conftest import RenderFailed

    open_redis = with_settings(PILLAR, cache={"redis": {"password": None}})
    with pytest.raises(
        RenderFailed, match=r"webstack:cache:redis:password: is required when other hosts use redis"
    ):
        render("debian-12", open_redis, "cache", roles=["cache"])


def test_caches_turned_off_install_nothing(render):
    off = with_settings(load_pillar("minimal"), cache={"memcached": {"enabled": False}})
    high = render("ubuntu-24.04", off, "cache", roles=["cache"])
    assert set(high) == {"cache-memcached-is-stopped", "cache-redis-is-stopped"}


def requisites(body, kind):
    """A state's `kind` requisites (require, watch, ...) as (type, target) pairs."""
    fun_args = next(v for k, v in body.items() if not k.startswith("__"))
    return [next(iter(r.items())) for a in fun_args if isinstance(a, dict) for r in a.get(kind, [])]


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_parallel_states_are_never_watchers(render, os_name):
    high = render(os_name, load_pillar("demo"))
    parallel = {i for i, body in high.items() if args(high, i).get("parallel")}
    assert {"app-release-is-live", "rabbitmq-app-user-has-its-vhost-only"} <= parallel
    # Salt runs a watching parallel state twice at once (the state, then its mod_watch).
    for state_id in parallel:
        assert not requisites(high[state_id], "watch") + requisites(high[state_id], "listen"), state_id
    for state_id, body in high.items():
        targets = {t for _, t in requisites(body, "watch_in") + requisites(body, "listen_in")}
        assert not targets & parallel, state_id


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_rabbitmq_users_run_in_parallel_and_celery_waits_for_them(render, os_name):
    pillar = load_pillar("demo")
    del pillar["webstack"]["roles"]  # the roles grain decides
    high = render(os_name, pillar, "supervisor", roles=["worker", "queue"])
    users = [i for i, body in high.items() if body["__sls__"] == "rabbitmq.users"]
    assert len(users) == 4 and all(args(high, i)["parallel"] is True for i in users)
    programs = [i for i in high if i.startswith("supervisor-runs-")]
    assert programs
    for state_id in programs:
        assert ("sls", "rabbitmq.users") in requisites(high[state_id], "require"), state_id
        # ...and for the release, which runs in parallel too.
        assert ("release", "app-release-is-live") in requisites(high[state_id], "watch"), state_id
    # The broker elsewhere (a worker box of a fleet): nothing to wait for.
    high = render(os_name, pillar, "supervisor", roles=["worker"])
    assert not any(body["__sls__"].startswith("rabbitmq") for body in high.values())
    assert all(("sls", "rabbitmq.users") not in requisites(high[i], "require") for i in high)
