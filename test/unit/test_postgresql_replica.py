"""PostgreSQL replication settings (postgresql_replica.derive, through
webstack.settings) and the URLs the app gets, for a primary, a replica and
an app box; the pillar and peer problems the settings refuse."""

import pytest
from salt.exceptions import CommandExecutionError

PRIMARY, REPLICAS, WEB = "10.0.0.5", ["10.0.0.7", "10.0.0.8"], "10.0.0.10"
PEER_TLS = {
    "ca": "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n",
    "certificate": "-----BEGIN CERTIFICATE-----\nMIIBdb\n-----END CERTIFICATE-----\n",
    "key": "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n",
}
CA_FILE = "/etc/webstack/peer-tls/ca.pem"


@pytest.fixture
def settings(salt_loader):
    """webstack.settings of a box with `roles` and `address`, the fleet's peers in the pillar."""

    def run(roles, address, peer_tls=PEER_TLS, peers=None, grains=None, **postgresql):
        pillar = {
            "webstack": {
                "project": {"name": "shop"},
                "roles": roles,
                "peers": {"db": [PRIMARY], "db_replica": REPLICAS, "web": [WEB]} if peers is None else peers,
                "postgresql": {
                    "password": "db-secret-1",
                    "listen_addresses": ["127.0.0.1", address],
                    "replication": {"password": "repl:secret\\1"},
                    **postgresql,
                },
                "rabbitmq": {"password": "mq-secret-1"},
                **({"peer_tls": peer_tls} if peer_tls else {}),
            }
        }
        fakes = {
            "mine.get": lambda *a, **kw: {},
            "network.ip_addrs": lambda *a, **kw: [address],
            "network.ip_addrs6": lambda *a, **kw: [],
        }
        return salt_loader(fakes=fakes, pillar=pillar, grains={"roles": [], **(grains or {})}).salt[
            "webstack.settings"
        ]()

    return run


def test_the_primary_keeps_a_slot_per_replica_and_lets_them_in_over_tls(settings):
    pg = settings(["db"], PRIMARY)["postgresql"]
    rep = pg["replication"]
    assert rep["role"] == "primary" and pg["standby"] is False
    assert rep["slots"] == ["webstack_10_0_0_7", "webstack_10_0_0_8"]
    assert rep["replicas"] == REPLICAS and rep["app_clients"] == [WEB]
    # An old primary asks the replicas whether one was promoted, on its way up.
    assert rep["peers"] == REPLICAS and rep["fence_peers_text"] == "10.0.0.7\n10.0.0.8\n"
    assert pg["conf"]["max_slot_wal_keep_size"] == "8192MB"
    assert "synchronous_standby_names" not in pg["conf"] and "primary_conninfo" not in pg["conf"]
    assert pg["ssl"] == {
        "enabled": True,
        "cert_file": "/etc/postgresql/15/main/peer-tls.crt",
        "key_file": "/etc/postgresql/15/main/peer-tls.key",
    }
    assert (pg["conf"]["ssl"], pg["conf"]["ssl_cert_file"]) == ("on", pg["ssl"]["cert_file"])


def test_synchronous_replication_waits_for_any_one_replica(settings):
    conf = settings(["db"], PRIMARY, replication={"password": "repl-secret", "synchronous": True})[
        "postgresql"
    ]["conf"]
    assert conf["synchronous_standby_names"] == "ANY 1 (webstack_10_0_0_7, webstack_10_0_0_8)"


def test_a_replica_streams_from_the_primary_through_its_own_slot(settings):
    pg = settings(["db_replica"], "10.0.0.8")["postgresql"]
    rep = pg["replication"]
    assert (rep["role"], rep["primary"], rep["slot"]) == ("standby", PRIMARY, "webstack_10_0_0_8")
    assert rep["replicas"] == ["10.0.0.7"] and rep["slots"] == []
    assert rep["peers"] == ["10.0.0.7", PRIMARY]
    assert rep["conninfo"] == (
        f"host='{PRIMARY}' application_name='webstack_10_0_0_8' port='5432' user='replicator'"
        " passfile='/etc/postgresql/15/main/replication.pgpass'"
        f" sslmode='verify-full' sslrootcert='{CA_FILE}'"
    )
    # ':' and '\' escaped, as libpq reads a passfile.
    assert rep["pgpass"] == "*:*:*:replicator:repl\\:secret\\\\1\n"
    conf = pg["conf"]
    assert (conf["primary_conninfo"], conf["primary_slot_name"]) == (rep["conninfo"], "webstack_10_0_0_8")
    assert conf["hot_standby_feedback"] == "on" and "max_slot_wal_keep_size" not in conf


def test_a_replica_not_yet_in_the_mine_names_its_slot_after_its_lowest_address(settings):
    rep = settings(["db_replica"], "10.0.0.9")["postgresql"]["replication"]
    assert rep["slot"] == "webstack_10_0_0_9" and rep["replicas"] == REPLICAS


def test_a_promoted_replica_lets_the_primary_it_replaced_ask_whether_it_was(settings):
    # After `promote`: fleet role db, the old primary gone from the mine, remembered in a grain.
    pg = settings(
        ["db"],
        "10.0.0.7",
        peers={"db_replica": ["10.0.0.8"]},
        grains={"webstack_former_primaries": [PRIMARY]},
    )["postgresql"]
    assert pg["replication"]["role"] == "primary" and pg["replication"]["slots"] == ["webstack_10_0_0_8"]
    assert pg["replication"]["peers"] == ["10.0.0.8", PRIMARY]
    assert pg["clients"] == [PRIMARY]  # its firewall lets the old primary's fence in


def test_a_promoted_primary_alone_runs_on_with_synchronous_on(settings):
    # Its replica was the box itself: commits wait for none (status says so).
    pg = settings(
        ["db"],
        "10.0.0.7",
        peers={"web": [WEB]},
        grains={"webstack_former_primaries": [PRIMARY]},
        replication={"password": "repl-secret", "synchronous": True},
    )["postgresql"]
    assert pg["replication"]["slots"] == [] and "synchronous_standby_names" not in pg["conf"]


def test_the_app_writes_to_the_primary_and_reads_from_the_replicas_over_tls(settings):
    exports = settings(["web"], WEB)["exports"]
    tls = f"?sslmode=verify-full&sslrootcert={CA_FILE}"
    assert exports["DATABASE_URL"] == f"postgresql://shop:db-secret-1@{PRIMARY}:5432/shop{tls}"
    assert exports["DATABASE_REPLICA_URLS"] == ",".join(
        f"postgresql://shop:db-secret-1@{replica}:5432/shop{tls}" for replica in REPLICAS
    )


def test_on_the_primarys_own_box_the_app_uses_loopback_without_tls(settings):
    exports = settings(["db", "web"], PRIMARY)["exports"]
    assert exports["DATABASE_URL"] == "postgresql://shop:db-secret-1@127.0.0.1:5432/shop"
    assert exports["DATABASE_REPLICA_URLS"].startswith(
        "postgresql://shop:db-secret-1@10.0.0.7:5432/shop?sslmode="
    )


def test_a_single_box_has_no_replicas_no_tls_and_no_replica_urls(settings):
    ws = settings(["db", "web"], PRIMARY, peer_tls=None, peers={})
    rep = ws["postgresql"]["replication"]
    assert (rep["role"], rep["slots"], rep["app_clients"]) == ("primary", [], [])
    assert ws["postgresql"]["ssl"]["enabled"] is False and "ssl" not in ws["postgresql"]["conf"]
    assert "DATABASE_REPLICA_URLS" not in ws["exports"]


@pytest.mark.parametrize(
    "roles, address, changes, problem",
    [
        (
            ["db_replica"],
            "10.0.0.7",
            {"peers": {"db_replica": REPLICAS}},
            "webstack:postgresql:primaries: this box is a replica (10.0.0.7) with no primary to follow",
        ),
        (
            ["db_replica"],
            "10.0.0.7",
            {"peers": {"db": ["10.0.0.7"], "db_replica": REPLICAS}},
            "webstack:postgresql:primaries: this box (10.0.0.7) is listed as a replica and as its own",
        ),
        (
            ["db"],
            PRIMARY,
            {"replication": {}},
            "webstack:postgresql:replication:password: is required (the replicas stream with it)",
        ),
        (
            ["db"],
            PRIMARY,
            {"peers": {"web": [WEB]}, "replication": {"synchronous": True}},
            "webstack:postgresql:replication:synchronous: is on, but there is no replica",
        ),
        (
            ["db"],
            PRIMARY,
            {"peer_tls": None},
            "webstack:peer_tls:ca: is required where other boxes connect to PostgreSQL (over TLS)",
        ),
    ],
)
def test_what_replication_needs_is_refused_naming_the_key(settings, roles, address, changes, problem):
    with pytest.raises(CommandExecutionError) as failed:
        settings(roles, address, **changes)
    lines = str(failed.value).splitlines()
    assert lines[0] == "Invalid pillar, nothing was changed:"
    assert len(lines) == 2 and lines[1].strip().startswith(problem), lines
