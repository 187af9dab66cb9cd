"""_modules/postgresql_major.py through Salt's loader: the clusters a box runs
(over a fake filesystem, the minion option postgresql_major.root), and the
major its settings then use (webstack.settings' `settle` hook)."""

from pathlib import Path

import pytest

PILLAR = {
    "webstack": {"project": {"name": "shop"}, "roles": ["db"], "postgresql": {"password": "db-secret-1"}}
}
DEBIAN_12 = dict(os="Debian", os_family="Debian", osfinger="Debian-12", osrelease="12", osmajorrelease=12)


def cluster(root, major, name="main", data_dir=None, data=True):
    """A cluster as postgresql-common lays it out (its data elsewhere when `data_dir`)."""
    conf = root / "etc/postgresql" / major / name
    conf.mkdir(parents=True)
    line = f"data_directory = '{data_dir}'\t\t# use data in another directory\n" if data_dir else ""
    (conf / "postgresql.conf").write_text(f"# data_directory = '/nowhere'\n{line}port = 5432\n")
    if data:
        data = root / (data_dir or f"/var/lib/postgresql/{major}/{name}").lstrip("/")
        data.mkdir(parents=True)
        (data / "PG_VERSION").write_text(f"{major}\n")


@pytest.fixture
def box(salt_loader):
    """A loader and its (empty) filesystem root; `box.settings(pillar)` runs webstack.settings."""

    def make(pillar=PILLAR):
        return salt_loader(fakes={"mine.get": lambda *a, **kw: {}}, pillar=pillar, grains=DEBIAN_12)

    ldr = make()
    ldr.root = Path(ldr.opts["postgresql_major.root"])
    ldr.settings = lambda pillar=PILLAR: make(pillar).salt["webstack.settings"]()
    return ldr


def with_version(version):
    pillar = {"webstack": dict(PILLAR["webstack"])}
    pillar["webstack"]["postgresql"] = dict(pillar["webstack"]["postgresql"], version=version)
    return pillar


def test_clusters_are_those_with_a_configuration_and_data(box):
    assert box.salt["postgresql_major.clusters"]() == []
    cluster(box.root, "9.6")
    cluster(box.root, "15")
    cluster(box.root, "15", "reports", data_dir="/srv/pg/reports")
    cluster(box.root, "13", data=False)  # pg_dropcluster half done: no data to keep
    (box.root / "etc/postgresql/17/main").mkdir(parents=True)  # no postgresql.conf
    (box.root / "etc/postgresql/README").write_text("not a major\n")
    assert box.salt["postgresql_major.clusters"]() == [
        {"version": "9.6", "cluster": "main", "data_dir": "/var/lib/postgresql/9.6/main"},
        {"version": "15", "cluster": "main", "data_dir": "/var/lib/postgresql/15/main"},
        {"version": "15", "cluster": "reports", "data_dir": "/srv/pg/reports"},
    ]


def test_a_new_box_gets_the_asked_version(box):
    pg = box.settings()["postgresql"]
    assert (pg["version"], pg["kept_cluster"]) == ("15", None)
    pg = box.settings(with_version("16"))["postgresql"]
    assert (pg["version"], pg["kept_cluster"]) == ("16", None)
    assert (pg["conf_dir"], pg["service"], pg["packages"]) == (
        "/etc/postgresql/16/main",
        "postgresql@16-main",
        ["postgresql-16"],
    )


def test_a_cluster_of_the_asked_major_is_used_without_a_word(box):
    cluster(box.root, "15")
    pg = box.settings()["postgresql"]
    assert (pg["version"], pg["kept_cluster"]) == ("15", None)


def test_a_cluster_of_another_major_is_kept_and_the_run_says_so(box):
    cluster(box.root, "15")
    ws = box.settings(with_version("17"))
    pg = ws["postgresql"]
    assert pg["version"] == "15"
    # Every path, the unit and the package follow, as base's apt run sees them.
    assert (pg["conf_dir"], pg["data_dir"], pg["bin_dir"], pg["service"], pg["packages"]) == (
        "/etc/postgresql/15/main",
        "/var/lib/postgresql/15/main",
        "/usr/lib/postgresql/15/bin",
        "postgresql@15-main",
        ["postgresql-15"],
    )
    assert ws["facts"]["postgresql"]["packages"][0]["names"] == ["postgresql-15"]
    assert "15/main is kept" in pg["kept_cluster"]
    assert "webstack:postgresql:version asks for 17" in pg["kept_cluster"]
    assert "pg_upgradecluster" in pg["kept_cluster"]
    # A release upgrade (Debian 13's default is 17): the release is named, not the pillar.
    release = box.salt["postgresql_major.settle"]({"version": "17", "cluster": "main"})
    assert release["version"] == "15" and "this release's default asks for 17" in release["kept_cluster"]


def test_with_several_clusters_the_asked_one_or_else_the_newest(box):
    cluster(box.root, "13")
    cluster(box.root, "15")
    cluster(box.root, "16", "reports")  # another cluster's name: not the app's
    settle = box.salt["postgresql_major.settle"]
    # Half way through pg_upgradecluster 13 -> 15 with the pillar at 15: the new one.
    assert settle({"version": 15, "cluster": "main"}) == {"version": "15", "kept_cluster": None}
    assert settle({"version": "13", "cluster": "main"}) == {"version": "13", "kept_cluster": None}
    kept = settle({"version": "16", "cluster": "main"})
    assert kept["version"] == "15"
    assert kept["kept_cluster"].startswith(
        "PostgreSQL 15/main is kept: this box runs that cluster (and 13/main)"
    )
    assert settle({"version": "16", "cluster": "reports"}) == {"version": "16", "kept_cluster": None}
    assert settle({"version": "17", "cluster": "reports"})["version"] == "16"
