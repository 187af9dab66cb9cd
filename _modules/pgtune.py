"""
PostgreSQL settings sized for the host: memory and CPU counts in,
``postgresql.conf`` values out (the rules of thumb PGTune uses for a web
workload). The postgresql role renders them; every value can be pinned in the
pillar (``webstack:postgresql:tuning``).
"""

__virtualname__ = "pgtune"

# What the pillar may pin, and how each value is written.
SIZES = (
    "shared_buffers",
    "effective_cache_size",
    "maintenance_work_mem",
    "work_mem",
    "min_wal_size",
    "max_wal_size",
)
COUNTS = (
    "max_connections",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers",
    "effective_io_concurrency",
)
STORAGE = {
    # random_page_cost, effective_io_concurrency
    "ssd": (1.1, 200),
    "hdd": (4.0, 2),
}


def __virtual__():
    return __virtualname__


def _size_kb(size):
    """Kilobytes of a pillar size (``512k``, ``64m``, ``1g``; no suffix: bytes)."""
    return __salt__["datatier.size_bytes"](size) // 1024


def _pg_size(kb):
    """A size in kilobytes as PostgreSQL writes it: the largest unit that divides it."""
    kb = int(kb)
    for unit, factor in (("GB", 1024**2), ("MB", 1024)):
        if kb and kb % factor == 0:
            return f"{kb // factor}{unit}"
    return f"{kb}kB"


def _mb_floor(kb):
    """Round down to whole megabytes above 1 MB: friendlier numbers, same effect."""
    return kb - kb % 1024 if kb >= 1024 else kb


def settings(mem_mb=None, cpus=None, storage="ssd", pinned=None):
    """
    ``postgresql.conf`` settings (name -> value as PostgreSQL reads it) for a
    host with ``mem_mb`` megabytes of memory and ``cpus`` CPUs (default: this
    host's ``mem_total`` and ``num_cpus`` grains). ``pinned`` holds values
    from the pillar: sizes as ``512m``/``1g``, counts as integers; the other
    values are computed from them (work_mem from shared_buffers and
    max_connections, for one).

    CLI Example: ``salt-call pgtune.settings``, ``salt-call pgtune.settings mem_mb=2048 cpus=2``
    """
    mem_kb = int(mem_mb if mem_mb is not None else __grains__["mem_total"]) * 1024
    cpus = max(1, int(cpus if cpus is not None else __grains__["num_cpus"]))
    if mem_kb <= 0:
        raise ValueError(f"pgtune: memory must be positive, got {mem_mb!r} MB")
    if storage not in STORAGE:
        raise ValueError(f"pgtune: storage must be one of {', '.join(STORAGE)}, got {storage!r}")
    pinned = {k: v for k, v in (pinned or {}).items() if v is not None}
    unknown = set(pinned) - set(SIZES) - set(COUNTS) - {"random_page_cost"}
    if unknown:
        raise ValueError(f"pgtune: unknown settings {', '.join(sorted(unknown))}")
    kb = {name: _size_kb(pinned[name]) for name in SIZES if name in pinned}
    count = {name: int(pinned[name]) for name in COUNTS if name in pinned}

    def size(name, computed):
        return kb.setdefault(name, computed)

    def number(name, computed):
        return count.setdefault(name, computed)

    connections = number("max_connections", 100)
    # A quarter of memory for PostgreSQL's own cache, three quarters for the
    # planner's idea of all caches (the kernel's included).
    shared = size("shared_buffers", _mb_floor(mem_kb // 4))
    size("effective_cache_size", _mb_floor(mem_kb * 3 // 4))
    size("maintenance_work_mem", min(_mb_floor(mem_kb // 16), 2 * 1024**2))
    # Parallel query: half the CPUs per query, at most 4; none on one CPU.
    number("max_worker_processes", max(8, cpus))
    number("max_parallel_workers", cpus)
    per_gather = number("max_parallel_workers_per_gather", min(4, cpus // 2))
    number("max_parallel_maintenance_workers", min(4, cpus // 2))
    # Every connection may sort or hash a few times at once, each parallel
    # worker too: share what shared_buffers leaves, at least 64 kB.
    work = (mem_kb - shared) // (connections * 3) // max(1, per_gather)
    size("work_mem", max(64, _mb_floor(work)))
    size("min_wal_size", 1024**2)
    size("max_wal_size", 4 * 1024**2)
    page_cost, io_concurrency = STORAGE[storage]
    number("effective_io_concurrency", io_concurrency)

    out = {"max_connections": count["max_connections"]}
    out.update((name, _pg_size(kb[name])) for name in SIZES)
    out.update((name, count[name]) for name in COUNTS if name != "max_connections")
    out["random_page_cost"] = float(pinned.get("random_page_cost", page_cost))
    return out


def quote(value):
    """
    A value as ``postgresql.conf`` takes it: numbers bare, booleans on/off,
    lists comma-separated, the rest quoted.

    CLI Example: ``salt-call pgtune.quote '[localhost, 10.0.0.20]'``
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return "'{}'".format(str(value).replace("\\", "\\\\").replace("'", "''"))


def derive(section, ws=None):  # noqa: ARG001 - a derive hook is given every setting: sizing needs none
    """
    ``{"conf": {...}}``: the postgresql.conf settings of a
    ``webstack:postgresql`` section, sized for this host (its ``tuning``,
    values pinned there win) and then its ``settings``. The postgresql
    component's ``derive`` (salt://postgresql/component.yaml).

    CLI Example: ``salt-call pgtune.derive '{tuning: {storage: hdd}, settings: {}}'``
    """
    tuning = dict(section.get("tuning") or {})
    storage = tuning.pop("storage", "ssd")
    conf = settings(storage=storage, pinned=tuning)
    conf.update(section.get("settings") or {})
    return {"conf": conf}
