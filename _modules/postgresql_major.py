"""
The PostgreSQL major a box runs. A new box gets the release's (osmap.yaml)
or the pillar's ``webstack:postgresql:version``; a box that already runs a
cluster keeps that cluster's major, whatever the release or the pillar now
ask: another major would be a second, empty cluster beside the data (a
release upgrade, Debian 12 to 13, moves the default from 15 to 17). Moving
the data to another major is a deliberate step (``pg_upgradecluster``, see
the README).
"""

import os
import re

__virtualname__ = "postgresql_major"

ETC = "etc/postgresql"
LIB = "var/lib/postgresql"
# 15, 17; before PostgreSQL 10, 9.6.
_MAJOR = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_DATA_DIRECTORY = re.compile(r"^\s*data_directory\s*=?\s*'([^']*)'", re.MULTILINE)


def __virtual__():
    return __virtualname__


def _data_dir(conf_dir, major, name):
    """Where a cluster's data is: postgresql.conf's data_directory, else postgresql-common's default."""
    with open(os.path.join(conf_dir, "postgresql.conf"), encoding="utf-8", errors="replace") as conf:
        found = _DATA_DIRECTORY.findall(conf.read())
    return found[-1] if found else f"/{LIB}/{major}/{name}"


def clusters(root=None):
    """
    The clusters on this box, as postgresql-common's ``pg_lsclusters`` finds
    them: each ``/etc/postgresql/<major>/<name>`` with a postgresql.conf
    whose data directory holds a PG_VERSION (a configuration without its
    data is no cluster to keep). Oldest major first, as
    ``[{"version": "15", "cluster": "main", "data_dir": "/var/lib/postgresql/15/main"}]``.
    ``root``: where the filesystem is (default: the minion option
    ``postgresql_major.root``, else /; the tests' own).

    CLI Example: ``salt-call postgresql_major.clusters``
    """
    root = root or __opts__.get("postgresql_major.root") or "/"
    etc = os.path.join(root, ETC)
    majors = [
        m
        for m in (os.listdir(etc) if os.path.isdir(etc) else [])
        if _MAJOR.match(m) and os.path.isdir(f"{etc}/{m}")
    ]
    found = []
    for major in sorted(majors, key=lambda m: tuple(map(int, m.split(".")))):
        for name in sorted(os.listdir(os.path.join(etc, major))):
            conf_dir = os.path.join(etc, major, name)
            if not os.path.isfile(os.path.join(conf_dir, "postgresql.conf")):
                continue
            data_dir = _data_dir(conf_dir, major, name)
            if os.path.isfile(os.path.join(root, data_dir.lstrip("/"), "PG_VERSION")):
                found.append({"version": major, "cluster": name, "data_dir": data_dir})
    return found


def settle(section, ws=None):  # noqa: ARG001 - a settle hook is given every setting: the major needs none
    """
    ``{"version": ..., "kept_cluster": ...}`` of a ``webstack:postgresql``
    section whose layout is not filled in yet: the asked ``version`` when
    this box has no cluster named ``cluster`` or has one of that major (an
    upgrade under way: the new cluster), else the newest major it has, and
    ``kept_cluster`` saying so (else null). The postgresql component's
    ``settle`` (salt://postgresql/component.yaml), before its paths,
    service and package are filled in.

    CLI Example: ``salt-call postgresql_major.settle '{version: "17", cluster: main}'``
    """
    asked = None if section.get("version") is None else str(section["version"])
    name = section["cluster"]
    majors = [c["version"] for c in __salt__["postgresql_major.clusters"]() if c["cluster"] == name]
    if not majors or asked in majors:
        return {"version": asked, "kept_cluster": None}
    kept = majors[-1]
    pinned = (__pillar__.get("webstack") or {}).get("postgresql", {}).get("version") is not None
    source = "webstack:postgresql:version" if pinned else "this release's default"
    others = [f"{m}/{name}" for m in majors[:-1]]
    return {
        "version": kept,
        "kept_cluster": (
            f"PostgreSQL {kept}/{name} is kept: this box runs that cluster"
            + (f" (and {', '.join(others)})" if others else "")
            + f", while {source} asks for {asked}. Nothing of {asked} is installed or created:"
            " moving the data to another major is a deliberate step (pg_upgradecluster, see"
            f" the README); webstack:postgresql:version {kept} silences this note."
        ),
    }
