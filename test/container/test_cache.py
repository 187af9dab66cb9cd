"""
cache: memcached and redis answer on loopback with the pillar's memory
limits and not on the box's address; once a peer uses them they listen for
it (redis behind its password), and a cache the pillar disables stops.

One cache box converged twice (both caches on a single box, then memcached
off and redis serving the peer). Each test names the pillar it starts from
(conftest's `converged_to`).
"""

import pytest
from box_helpers import helper
from conftest import converge, converged_to, load_pillar, with_settings

REDIS_PASSWORD = "redis-s3cret-token"


def talk(src, host, port, *lines):
    """Send `lines` to host:port from `src` and return the reply, or why there is none."""
    return src.exec(["python3", helper("talk.py"), host, str(port), *lines]).stdout.strip()


def memcached_stat(box, name):
    out = talk(box, "127.0.0.1", 11211, "stats", "quit")
    return dict(line.split()[1:3] for line in out.splitlines() if line.startswith("STAT "))[name]


def pillar(peers=None, **cache):
    return with_settings(
        load_pillar("minimal"),
        roles=["cache"],
        peers={"web": list(peers or [])},
        cache=cache,
    )


BOTH = pillar(memcached={"memory": "32m"}, redis={"enabled": True, "maxmemory": "48m"})


@pytest.fixture(scope="module")
def cache(boxes):
    box = boxes.start("cache-box")
    peer = boxes.start("cache-peer")
    dry = box.apply(BOTH, "cache", test=True)
    assert dry.ok and dry.pending, "a dry run on a new box should predict, not fail:\n" + dry.explain()
    first = converge(box, BOTH, "cache")
    print("first apply:", first.summary(), first.slowest(4))
    return box, peer


def test_both_caches_answer_on_loopback_with_their_limits(cache):
    box, _ = cache
    converged_to(box, BOTH, "cache")
    assert memcached_stat(box, "limit_maxbytes") == str(32 * 1024**2)
    assert talk(box, "127.0.0.1", 11211, "set k 0 60 2", "hi", "get k", "quit").split() == [
        "STORED",
        "VALUE",
        "k",
        "0",
        "2",
        "hi",
        "END",
    ]
    assert talk(box, "127.0.0.1", 6379, "PING", "QUIT") == "+PONG\r\n+OK"
    assert box.exec(["redis-cli", "CONFIG", "GET", "maxmemory"]).stdout.split() == [
        "maxmemory",
        str(48 * 1024**2),
    ]
    assert box.exec(["redis-cli", "CONFIG", "GET", "maxmemory-policy"]).stdout.split()[1] == "allkeys-lru"


def test_a_single_box_keeps_them_off_the_network(cache):
    box, peer = cache
    converged_to(box, BOTH, "cache")
    for port in (11211, 6379):
        assert talk(peer, box.ip(), port, "PING") == "closed ConnectionRefusedError", port


def test_redis_serves_a_listed_peer_behind_its_password_and_memcached_can_be_turned_off(cache, idempotent):
    box, peer = cache
    converged_to(box, BOTH, "cache")
    final = pillar(
        peers=[peer.ip()],
        memcached={"enabled": False},
        redis={"enabled": True, "password": REDIS_PASSWORD},
    )
    converge(box, final, "cache")
    assert talk(peer, box.ip(), 6379, "PING", "QUIT").startswith("-NOAUTH")
    assert talk(peer, box.ip(), 6379, f"AUTH {REDIS_PASSWORD}", "PING", "QUIT") == "+OK\r\n+PONG\r\n+OK"
    assert talk(box, "127.0.0.1", 11211, "stats") == "closed ConnectionRefusedError"
    assert box.exec(["systemctl", "is-enabled", "memcached"], check=False).stdout.strip() == "disabled"
    # redis.conf holds the password: redis reads it, nobody else.
    assert box.exec(["stat", "-c", "%U:%G %a", "/etc/redis/redis.conf"]).stdout.strip() == "redis:redis 640"
    again = idempotent(box, final, "cache")
    print("re-apply:", again.summary())
