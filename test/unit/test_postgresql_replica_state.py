"""_states/postgresql_replica.py (psql, pg_basebackup and systemd faked): the
primary's slots made and dropped with honest test=True; a replica built once,
never over a cluster holding databases, back to its new cluster when the base
backup fails. And how postgresql_replica.status judges what the server says."""

import json

import pytest

SLOT = "webstack_10_0_0_7"
CONNINFO = "host='10.0.0.5' user='replicator' sslmode='verify-full' application_name='webstack_10_0_0_7'"


class FakeServer:
    """What psql, pg_basebackup and the service calls see, recorded."""

    def __init__(self, slots=None, databases=("postgres", "template0", "template1"), basebackup_error=None):
        self.slots = dict(slots or {})
        self.databases = list(databases)
        self.basebackup_error = basebackup_error
        self.calls = []

    def run_all(self, cmd, runas=None, **kwargs):
        assert runas == "postgres"
        if cmd[0].endswith("pg_basebackup"):
            self.calls.append(("pg_basebackup", cmd[cmd.index("-S") + 1]))
            if self.basebackup_error:
                return {"retcode": 1, "stdout": "", "stderr": self.basebackup_error}
            target = cmd[cmd.index("-D") + 1]
            open(f"{target}/PG_VERSION", "w").close()
            return {"retcode": 0, "stdout": "", "stderr": ""}
        sql = cmd[-1]
        if "FROM pg_replication_slots" in sql:
            rows = [f"{name} {active}" for name, active in sorted(self.slots.items())]
        elif sql.startswith("SELECT pg_create_physical_replication_slot"):
            self.calls.append(("create", sql.split("'")[1]))
            rows = []
        elif sql.startswith("SELECT pg_drop_replication_slot"):
            self.calls.append(("drop", sql.split("'")[1]))
            rows = []
        elif "FROM pg_database" in sql:
            rows = self.databases
        elif "pg_stat_wal_receiver" in sql:
            rows = ["streaming"]
        else:
            raise AssertionError(sql)
        return {"retcode": 0, "stdout": "".join(f"{r}\n" for r in rows), "stderr": ""}


@pytest.fixture
def states(salt_loader):
    def make(test=False, **kw):
        fake = FakeServer(**kw)
        ldr = salt_loader(
            fakes={
                "cmd.run_all": fake.run_all,
                "service.stop": lambda name: fake.calls.append(("stop", name)) or True,
                "service.start": lambda name: fake.calls.append(("start", name)) or True,
            },
            test=test,
        )
        return ldr.states, fake

    return make


def test_the_primary_makes_missing_slots_and_drops_unused_inactive_ones(states):
    slots = {"webstack_10_0_0_8": "t", "webstack_10_0_0_9": "f", "webstack_10_0_0_6": "t"}
    st, fake = states(test=True, slots=slots)
    ret = st["postgresql_replica.slots_present"]("replication slots", [SLOT, "webstack_10_0_0_8"])
    assert ret["result"] is None and ret["changes"] == {"created": [SLOT], "dropped": ["webstack_10_0_0_9"]}
    assert fake.calls == []
    st, fake = states(slots=slots)
    ret = st["postgresql_replica.slots_present"]("replication slots", [SLOT, "webstack_10_0_0_8"])
    assert ret["result"] is True and ret["changes"] == {"created": [SLOT], "dropped": ["webstack_10_0_0_9"]}
    # An active slot of a replica no longer listed stays until it disconnects.
    assert fake.calls == [("create", SLOT), ("drop", "webstack_10_0_0_9")]


def test_slots_in_place_change_nothing(states):
    st, fake = states(slots={SLOT: "t"})
    ret = st["postgresql_replica.slots_present"]("replication slots", [SLOT])
    assert ret["result"] is True and ret["changes"] == {} and fake.calls == []


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    # The state hands directories to postgres: here, to whoever runs the test.
    monkeypatch.setattr("shutil.chown", lambda *a, **kw: None)
    path = tmp_path / "main"
    path.mkdir()
    (path / "PG_VERSION").write_text("15\n")
    return path


def build(st, data_dir):
    return st["postgresql_replica.standby_built"](
        str(data_dir), "postgresql@15-main", "/usr/lib/postgresql/15/bin", "10.0.0.5", CONNINFO, SLOT
    )


def test_a_new_cluster_is_replaced_by_a_base_backup_once(states, data_dir):
    st, fake = states(test=True)
    ret = build(st, data_dir)
    assert ret["result"] is None and ret["changes"] == {"built": {"from": "10.0.0.5", "slot": SLOT}}
    assert fake.calls == []
    st, fake = states()
    ret = build(st, data_dir)
    assert ret["result"] is True, ret["comment"]
    assert fake.calls == [
        ("stop", "postgresql@15-main"),
        ("pg_basebackup", SLOT),
        ("start", "postgresql@15-main"),
    ]
    assert (data_dir / "standby.signal").exists() and not (data_dir.parent / "main.new-cluster").exists()
    st, fake = states()
    again = build(st, data_dir)
    assert again["result"] is True and again["changes"] == {} and fake.calls == []


def test_a_cluster_with_databases_of_its_own_is_never_replaced(states, data_dir):
    st, fake = states(databases=["postgres", "shop", "template0", "template1"])
    ret = build(st, data_dir)
    assert ret["result"] is False and "holds databases of its own (shop)" in ret["comment"]
    assert fake.calls == [] and not (data_dir / "standby.signal").exists()


def test_a_failed_base_backup_puts_the_new_cluster_back_and_says_to_apply_the_primary(states, data_dir):
    st, fake = states(basebackup_error=f'pg_basebackup: error: replication slot "{SLOT}" does not exist')
    ret = build(st, data_dir)
    assert ret["result"] is False and ret["changes"] == {}
    assert "Apply the primary first" in ret["comment"] and SLOT in ret["comment"]
    assert (data_dir / "PG_VERSION").read_text() == "15\n" and not (data_dir / "standby.signal").exists()
    assert fake.calls[-1] == ("start", "postgresql@15-main")


# -- postgresql_replica.status's verdict ---------------------------------------------


@pytest.fixture
def judge(salt_loader):
    return salt_loader().salt["postgresql_replica.status"].__globals__["_judge"]


PRIMARY = {"role": "primary", "slots": [SLOT], "synchronous": False}


def test_a_streaming_replica_within_its_limits_is_green(judge):
    seen = {
        "replicas": [{"name": SLOT, "state": "streaming", "lag_bytes": 100, "lag_seconds": 0.2}],
        "slots": [{"name": SLOT, "wal_status": "reserved"}],
    }
    assert judge(seen, PRIMARY, 1024, 60) == []


def test_lag_a_lost_slot_or_a_missing_replica_is_red(judge):
    seen = {
        "replicas": [{"name": SLOT, "state": "streaming", "lag_bytes": 5000, "lag_seconds": 90}],
        "slots": [{"name": SLOT, "wal_status": "lost"}],
    }
    assert judge(seen, PRIMARY, 1024, 60) == [
        f"{SLOT}: its slot lost WAL it needs: rebuild that replica",
        f"{SLOT}: 5000 bytes behind (over 1024)",
        f"{SLOT}: 90.0 s behind (over 60)",
    ]
    assert judge({"replicas": [], "slots": []}, PRIMARY, 1024, 60) == [
        f"{SLOT}: no replication slot",
        f"{SLOT}: not streaming (not connected)",
    ]
    # A promoted primary alone, synchronous on: nothing its commits wait for.
    alone = dict(PRIMARY, slots=[], synchronous=True)
    assert judge({"replicas": [], "slots": []}, alone, 1024, 60) == [
        "synchronous replication is on, but there is no replica: commits wait for none"
    ]
    standby = {"role": "standby", "primary": "10.0.0.5"}
    down = {"in_recovery": True, "receiver": None, "lag_bytes": 0, "lag_seconds": 0}
    assert judge(down, standby, 1024, 60) == ["not streaming from 10.0.0.5 (receiver: none)"]


# -- promote and fence (the operator's functions) -----------------------------------


@pytest.fixture
def operator(salt_loader):
    """postgresql_replica.promote / fence on a box with `roles` (grain) and `part` in replication."""

    def make(roles, part, in_recovery, former=()):
        calls = []
        ws = {
            "postgresql": {
                "port": 5432,
                "service": "postgresql@15-main",
                "replication": {"role": part, "primary": "10.0.0.5" if part == "standby" else None},
            }
        }

        def run_all(cmd, **kwargs):
            sql = cmd[-1]
            calls.append(sql)
            conninfo = "host='10.0.0.5' application_name='webstack_10_0_0_7'" if part == "standby" else ""
            answer = {"in_recovery": in_recovery, "conninfo": conninfo}
            return {"retcode": 0, "stdout": ("true" if "pg_promote" in sql else json.dumps(answer)) + "\n"}

        fakes = {
            "webstack.settings": lambda: ws,
            "webstack.declarations": lambda: {
                "postgresql": {"host_role": "db", "role_settings": {"standby": "db_replica"}}
            },
            "cmd.run_all": run_all,
            "grains.setval": lambda key, val, **kw: calls.append(("grain", key, val)) or {key: val},
            "saltutil.refresh_pillar": lambda **kw: calls.append(("refresh_pillar", kw)) or True,
            "mine.update": lambda: calls.append(("mine.update",)) or True,
            "service.stop": lambda name: calls.append(("stop", name)) or True,
        }
        grains = {"roles": roles, **({"webstack_former_primaries": list(former)} if former else {})}
        return salt_loader(fakes=fakes, grains=grains).salt, calls

    return make


def test_promote_leaves_recovery_remembers_the_old_primary_and_takes_its_role(operator):
    mods, calls = operator(["db_replica", "cache"], "standby", in_recovery=True)
    assert mods["postgresql_replica.promote"]() == {
        "promoted": True,
        "replaced": "10.0.0.5",
        "roles": ["db", "cache"],
    }
    assert "SELECT to_json(pg_promote(true, 60))" in calls
    assert ("grain", "webstack_former_primaries", ["10.0.0.5"]) in calls
    # The roles grain, then the master's view of it, then the mine.
    i = calls.index(("grain", "roles", ["db", "cache"]))
    assert calls[i + 1 :] == [("refresh_pillar", {"wait": True}), ("mine.update",)]


def test_promote_refuses_on_a_primary(operator):
    from salt.exceptions import CommandExecutionError

    mods, calls = operator(["db"], "primary", in_recovery=False)
    with pytest.raises(CommandExecutionError, match="not a replica"):
        mods["postgresql_replica.promote"]()
    assert not any("pg_promote" in str(c) for c in calls)


def test_fence_stops_postgresql_and_drops_the_primarys_role_once(operator):
    mods, calls = operator(["db", "queue", "cache"], "primary", in_recovery=False)
    assert mods["postgresql_replica.fence"]() == {"fenced": True, "roles": ["queue", "cache"]}
    assert calls[0] == ("stop", "postgresql@15-main")
    assert ("grain", "roles", ["queue", "cache"]) in calls
    mods, calls = operator(["queue", "cache"], "primary", in_recovery=False)
    assert mods["postgresql_replica.fence"]()["roles"] == ["queue", "cache"]
    assert not any(c[0] == "grain" for c in calls if isinstance(c, tuple))
