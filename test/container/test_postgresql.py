"""
postgresql: the app's role logs in with its SCRAM password over TCP, nothing
else does; a peer gets in only once it is listed, over TLS only; a config change reloads the
server and restarts it only when a setting needs it.

One db box, converged four times (single box, a fictitious client, the peer
listed with a reload-only change, a change that needs a restart), then
asked for another PostgreSQL major, which it refuses to start beside its
cluster. Each test
names the pillar it starts from (conftest's `converged_to`): in file order
no converge is repeated, and a test run alone still starts where it should.
"""

import concurrent.futures
import hashlib
import json

import pytest
from conftest import converge, converged_to, load_pillar, with_settings
from figures import report

from tools.harness.dockerbox import TEST_PILLAR_ROOT

# Quotes, spaces and URL specials: the password must survive SQL, YAML and the URL.
PASSWORD = "s3cret 'pg' p@ss:/word"
ELSEWHERE = "10.255.0.1"  # a client that is not the peer box
APT_INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"


# The db box's webstack:peer_tls as a master would give it (the fleet's CA and
# its certificate): issued once the box has an address (`pg`).
PEER_TLS = {}


def pillar(peers=None, **tuning):
    return with_settings(
        load_pillar("minimal"),
        roles=["db"],
        peers={"web": list(peers or [])},
        postgresql={"password": PASSWORD, "tuning": tuning},
        # Peers get in over TLS only.
        **({"peer_tls": PEER_TLS["db"]} if peers else {}),
    )


SINGLE = pillar()


def elsewhere_only():
    return pillar(peers=[ELSEWHERE])


def listed(peer):
    return pillar(peers=[ELSEWHERE, peer.ip()], work_mem="7m")


def final(peer):
    return pillar(peers=[ELSEWHERE, peer.ip()], work_mem="7m", max_connections=120)


def psql(box, conninfo, sql, password=PASSWORD):
    """psql over TCP as a client would (never as the postgres superuser)."""
    return box.exec(
        ["psql", conninfo, "-XAtc", sql],
        check=False,
        user="nobody",
        env={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
    )


def admin(box, sql):
    """SQL as the postgres superuser over the local socket."""
    return box.exec(["runuser", "-u", "postgres", "--", "psql", "-XAtc", sql]).stdout.strip()


def start_time(box):
    return admin(box, "SELECT pg_postmaster_start_time()")


def applied(result):
    return result.by_id["postgresql-cluster-applies-its-configuration"]["changes"]


@pytest.fixture(scope="module")
def pg(boxes, peer_tls):
    """The db box converged as a single box, and a peer with psql."""
    db = boxes.start("pg-db")
    peer = boxes.start("pg-peer")
    PEER_TLS["db"] = peer_tls(db, ["db"])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        client = pool.submit(peer.exec, f"apt-get update -qq && {APT_INSTALL} postgresql-client >/dev/null")
        dry = db.apply(SINGLE, "postgresql", test=True)
        assert dry.ok and dry.pending, "a dry run on a new box should predict, not fail:\n" + dry.explain()
        assert db.exec("command -v psql", check=False).rc != 0, "test=True installed PostgreSQL"
        first = converge(db, SINGLE, "postgresql")
        client.result()
    print("first apply:", first.summary(), first.slowest(4))
    return db, peer


def conninfo(host, user="shop"):
    return f"host={host} port=5432 user={user} dbname=shop"


def test_the_app_role_logs_in_with_its_url_and_nothing_weaker_does(pg):
    db, _ = pg
    settings = db.salt_call("--out=json", "webstack.settings", pillar_root=TEST_PILLAR_ROOT, check=True)
    url = json.loads(settings.stdout)["local"]["urls"]["database"]
    assert url.startswith("postgresql://shop:") and url.endswith("@127.0.0.1:5432/shop")
    # The app's URL as the app gets it, the password in it.
    ok = psql(db, url, "SELECT current_user || '@' || current_database()", password="")
    assert ok.stdout.strip() == "shop@shop", ok.stderr

    wrong = psql(db, conninfo("127.0.0.1"), "SELECT 1", password="not-the-password")
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr

    # Stored as a SCRAM verifier, and the server hashes new ones so too.
    assert admin(db, "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'shop'") == "t"
    assert admin(db, "SHOW password_encryption") == "scram-sha-256"
    assert (
        admin(db, "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = 'shop'")
        == "f"
    )
    assert admin(db, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'") == "shop"


def test_md5_and_passwordless_roles_cannot_log_in_over_tcp(pg):
    db, _ = pg
    md5 = "md5" + hashlib.md5(b"md5-passwordmd5user").hexdigest()  # noqa: S324 - the hash under test
    admin(db, f"CREATE ROLE md5user LOGIN PASSWORD '{md5}'; CREATE ROLE nopass LOGIN")
    try:
        assert admin(db, "SELECT rolpassword FROM pg_authid WHERE rolname = 'md5user'") == md5
        refused = psql(db, conninfo("127.0.0.1", "md5user"), "SELECT 1", password="md5-password")
        assert refused.rc != 0 and "password authentication failed" in refused.stderr
        refused = psql(db, conninfo("127.0.0.1", "nopass"), "SELECT 1", password="")
        assert refused.rc != 0 and ("password" in refused.stderr), refused.stderr
    finally:
        admin(db, "DROP ROLE md5user; DROP ROLE nopass")


def test_a_single_box_listens_on_loopback_only(pg):
    db, peer = pg
    converged_to(db, SINGLE, "postgresql")
    assert admin(db, "SHOW listen_addresses") == "127.0.0.1"
    out = psql(peer, conninfo(db.ip()), "SELECT 1")
    assert out.rc != 0 and "Connection refused" in out.stderr, out.stderr


def test_with_clients_it_listens_on_its_address_and_lets_only_them_in(pg):
    db, peer = pg
    converged_to(db, SINGLE, "postgresql")
    before = start_time(db)
    ran = converge(db, elsewhere_only(), "postgresql")
    # listen_addresses only takes effect at server start.
    assert applied(ran) == {"reloaded": True, "restarted": ["listen_addresses"]}, ran.explain()
    assert start_time(db) != before
    assert admin(db, "SHOW listen_addresses") == f"127.0.0.1,{db.ip()}"
    out = psql(peer, conninfo(db.ip()), "SELECT 1")
    assert out.rc != 0 and "no pg_hba.conf entry" in out.stderr, out.stderr


def test_a_listed_peer_gets_in_and_a_reload_only_change_does_not_restart(pg):
    db, peer = pg
    converged_to(db, elsewhere_only(), "postgresql")
    before = start_time(db)
    ran = converge(db, listed(peer), "postgresql")
    assert applied(ran) == {"reloaded": True}, ran.explain()
    assert start_time(db) == before
    assert admin(db, "SHOW work_mem") == "7MB"
    out = psql(peer, conninfo(db.ip()), "SELECT current_user")
    assert out.rc == 0 and out.stdout.strip() == "shop", out.stderr
    # Over TLS, verifying the certificate against the fleet's CA; never in plain text.
    peer.put_file("/tmp/peer-ca.pem", PEER_TLS["db"]["ca"])
    verified = f"{conninfo(db.ip())} sslmode=verify-full sslrootcert=/tmp/peer-ca.pem"
    out = psql(peer, verified, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert out.rc == 0 and out.stdout.strip() == "t", out.stderr
    out = psql(peer, f"{conninfo(db.ip())} sslmode=disable", "SELECT 1")
    assert out.rc != 0 and "no encryption" in out.stderr, out.stderr
    # Its own database as its own role only.
    out = psql(peer, f"host={db.ip()} port=5432 user=shop dbname=postgres", "SELECT 1")
    assert out.rc != 0 and "no pg_hba.conf entry" in out.stderr, out.stderr


def test_a_change_that_needs_a_restart_restarts_and_the_role_is_idempotent(pg, idempotent):
    db, peer = pg
    converged_to(db, listed(peer), "postgresql")
    before = start_time(db)
    ran = converge(db, final(peer), "postgresql")
    assert applied(ran) == {"reloaded": True, "restarted": ["max_connections"]}, ran.explain()
    assert start_time(db) != before
    assert admin(db, "SHOW max_connections") == "120"
    assert admin(db, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    again = idempotent(db, final(peer), "postgresql")
    print("re-apply:", again.summary())


def test_another_major_keeps_the_cluster_and_says_so(pg, request):
    """
    A pillar naming PostgreSQL 17 on a box running 15 (as Debian 13's default
    would after a release upgrade): the run keeps 15/main and says so; no
    second cluster, no postgresql-17 (bookworm has none: installing it would
    fail the run).
    """
    db, peer = pg
    converged_to(db, final(peer), "postgresql")
    other = with_settings(final(peer), postgresql={"version": "17"})
    ran = converge(db, other, "postgresql")
    assert not ran.changed, ran.explain()
    said = ran.by_id["postgresql-keeps-the-cluster-this-box-runs"]["comment"]
    assert "PostgreSQL 15/main is kept" in said and "asks for 17" in said, said
    assert ran.by_id["postgresql-cluster-is-running"]["name"] == "postgresql@15-main"
    report(request, f"another major asked: {ran.summary()}; it said: {said}")
    dry = db.apply(other, "postgresql", test=True)
    assert dry.ok and not dry.changed and not dry.pending, dry.explain()
    clusters = db.exec(["pg_lsclusters", "--no-header"]).stdout.split("\n")
    assert [line.split()[:4] for line in clusters if line] == [["15", "main", "5432", "online"]]
    assert db.exec(["dpkg-query", "-W", "postgresql-17"], check=False).rc != 0
    out = psql(db, conninfo("127.0.0.1"), "SELECT current_user || '@' || current_database()")
    assert out.rc == 0 and out.stdout.strip() == "shop@shop", out.stderr

    # Back to the box's own pillar: nothing to change, nothing to say.
    back = converge(db, final(peer), "postgresql")
    assert not back.changed and "postgresql-keeps-the-cluster-this-box-runs" not in back.by_id, back.explain()
