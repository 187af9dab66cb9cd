"""_modules/pgtune.py: postgresql.conf sizes for hosts big and small, and
values the pillar pins (through Salt's loader)."""

import pytest


@pytest.fixture(scope="module")
def mods(tmp_path_factory):
    import salt.loader
    from conftest import HOST_GRAINS, minion_opts

    opts = minion_opts(tmp_path_factory.mktemp("pgtune"), grains=HOST_GRAINS)
    return salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), context={})


@pytest.fixture(scope="module")
def pgtune(mods):
    return lambda fn, *a, **kw: mods[f"pgtune.{fn}"](*a, **kw)


@pytest.fixture(scope="module")
def private(mods):
    """_modules/pgtune.py's globals: its `_name` helpers, which the loader hides."""
    return mods["pgtune.settings"].func.__globals__


@pytest.mark.parametrize(
    "mem_mb, cpus, expected",
    [
        # A 1 GB, 1 CPU box: no parallel query, small work_mem.
        (
            1024,
            1,
            dict(
                shared_buffers="256MB",
                effective_cache_size="768MB",
                maintenance_work_mem="64MB",
                work_mem="2MB",
                max_worker_processes=8,
                max_parallel_workers=1,
                max_parallel_workers_per_gather=0,
                max_parallel_maintenance_workers=0,
            ),
        ),
        # 4 GB, 2 CPUs: one worker per gather.
        (
            4096,
            2,
            dict(
                shared_buffers="1GB",
                effective_cache_size="3GB",
                maintenance_work_mem="256MB",
                work_mem="10MB",
                max_worker_processes=8,
                max_parallel_workers=2,
                max_parallel_workers_per_gather=1,
                max_parallel_maintenance_workers=1,
            ),
        ),
        # 64 GB, 16 CPUs: maintenance_work_mem capped at 2 GB, 4 workers per gather.
        (
            65536,
            16,
            dict(
                shared_buffers="16GB",
                effective_cache_size="48GB",
                maintenance_work_mem="2GB",
                work_mem="40MB",
                max_worker_processes=16,
                max_parallel_workers=16,
                max_parallel_workers_per_gather=4,
                max_parallel_maintenance_workers=4,
            ),
        ),
        # An odd size: rounded down to whole megabytes.
        (1001, 2, dict(shared_buffers="250MB", effective_cache_size="750MB", maintenance_work_mem="62MB")),
        # A tiny box: work_mem never below 64 kB.
        (
            64,
            1,
            dict(
                shared_buffers="16MB",
                effective_cache_size="48MB",
                maintenance_work_mem="4MB",
                work_mem="163kB",
            ),
        ),
    ],
)
def test_sizes_follow_memory_and_cpus(pgtune, mem_mb, cpus, expected):
    out = pgtune("settings", mem_mb=mem_mb, cpus=cpus)
    assert {k: out[k] for k in expected} == expected
    assert out["max_connections"] == 100
    assert (out["min_wal_size"], out["max_wal_size"]) == ("1GB", "4GB")


def test_work_mem_has_a_floor(pgtune):
    out = pgtune("settings", mem_mb=64, cpus=1, pinned={"max_connections": 5000})
    assert out["work_mem"] == "64kB"


def test_defaults_come_from_the_grains(pgtune):
    # conftest's HOST_GRAINS: 4096 MB, 2 CPUs.
    assert pgtune("settings") == pgtune("settings", mem_mb=4096, cpus=2)


def test_pinned_values_win_and_feed_the_computed_ones(pgtune):
    out = pgtune(
        "settings",
        mem_mb=8192,
        cpus=2,
        pinned={"shared_buffers": "2g", "max_connections": 200, "max_wal_size": "512m", "work_mem": None},
    )
    assert out["shared_buffers"] == "2GB"
    assert out["max_connections"] == 200
    assert out["max_wal_size"] == "512MB"
    # (8 GB - 2 GB) / (3 * 200 connections), in whole megabytes.
    assert out["work_mem"] == "10MB"
    assert out["effective_cache_size"] == "6GB"  # still computed


def test_storage_sets_planner_costs(pgtune):
    ssd = pgtune("settings", mem_mb=2048, cpus=2)
    hdd = pgtune("settings", mem_mb=2048, cpus=2, storage="hdd")
    assert (ssd["random_page_cost"], ssd["effective_io_concurrency"]) == (1.1, 200)
    assert (hdd["random_page_cost"], hdd["effective_io_concurrency"]) == (4.0, 2)
    pinned = pgtune("settings", mem_mb=2048, cpus=2, storage="hdd", pinned={"random_page_cost": 2})
    assert pinned["random_page_cost"] == 2.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pinned={"shared_bufers": "1g"}), "unknown settings shared_bufers"),
        (dict(storage="nvme"), "storage must be one of"),
        (dict(mem_mb=0), "memory must be positive"),
    ],
)
def test_bad_input_is_refused(pgtune, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pgtune("settings", **{"mem_mb": 1024, "cpus": 1, **kwargs})


@pytest.mark.parametrize(
    "kb, text",
    [
        (1024**2, "1GB"),
        (3 * 1024**2, "3GB"),
        (1536 * 1024, "1536MB"),
        (1024, "1MB"),
        (1000, "1000kB"),
        (0, "0kB"),
    ],
)
def test_pg_size_uses_the_largest_whole_unit(private, kb, text):
    assert private["_pg_size"](kb) == text


@pytest.mark.parametrize(
    "value, text",
    [
        (100, "100"),
        (1.1, "1.1"),
        (True, "on"),
        (False, "off"),
        ("500ms", "'500ms'"),
        ("it's", "'it''s'"),
        (["127.0.0.1", "10.0.0.5"], "'127.0.0.1,10.0.0.5'"),
    ],
)
def test_quote_writes_postgresql_conf_values(pgtune, value, text):
    assert pgtune("quote", value) == text
