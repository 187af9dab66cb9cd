"""_states/postgresql_cluster.py: reload on change, restart only for settings
that need it, honest test=True, errors stop it (psql and systemd faked)."""

import pytest


class FakeCluster:
    """psql answers and service calls of a cluster, recorded."""

    def __init__(
        self,
        pending_after_reload=(),
        pending_now=(),
        errors=(),
        restart_clears=True,
        psql_fails=False,
        reload_seen=True,
    ):
        self.pending = list(pending_now)
        self.pending_after_reload = list(pending_after_reload)
        self.errors = list(errors)
        self.restart_clears = restart_clears
        self.psql_fails = psql_fails
        self.reload_seen = reload_seen
        self.load_time = 1
        self.calls = []

    def run_all(self, cmd, runas=None, **kwargs):
        assert cmd[0] == "psql" and runas == "postgres" and "-p" in cmd
        if self.psql_fails:
            return {"retcode": 2, "stdout": "", "stderr": "psql: error: connection refused"}
        sql = cmd[-1]
        if "pg_file_settings" in sql:
            rows = self.errors
        elif "pending_restart" in sql:
            rows = self.pending
        elif "pg_conf_load_time" in sql:
            rows = [f"2026-01-01 00:00:0{self.load_time}+00"]
        else:
            raise AssertionError(sql)
        return {"retcode": 0, "stdout": "".join(f"{r}\n" for r in rows), "stderr": ""}

    def reload(self, name):
        self.calls.append(("reload", name))
        self.load_time += 1 if self.reload_seen else 0
        self.pending += self.pending_after_reload
        return True

    def restart(self, name):
        self.calls.append(("restart", name))
        if self.restart_clears:
            self.pending = []
        return True


@pytest.fixture
def cluster(salt_loader):
    def make(test=False, **kw):
        fake = FakeCluster(**kw)
        ldr = salt_loader(
            fakes={
                "cmd.run_all": fake.run_all,
                "service.reload": fake.reload,
                "service.restart": fake.restart,
            },
            test=test,
        )
        states = ldr.states
        fake.applied = lambda: states["postgresql_cluster.config_applied"]("postgresql@15-main", port=5432)
        fake.watched = lambda **kw: states["postgresql_cluster.mod_watch"](
            "postgresql@15-main", sfun="config_applied", port=5432, **kw
        )
        return fake

    return make


def test_nothing_pending_nothing_done(cluster):
    c = cluster()
    ret = c.applied()
    assert ret["result"] is True and ret["changes"] == {}
    assert c.calls == []


def test_a_setting_waiting_for_a_restart_gets_one(cluster):
    c = cluster(pending_now=["shared_buffers"])
    ret = c.applied()
    assert ret["result"] is True
    assert ret["changes"] == {"restarted": ["shared_buffers"]}
    assert c.calls == [("restart", "postgresql@15-main")]


def test_test_mode_predicts_the_restart_and_does_nothing(cluster):
    c = cluster(test=True, pending_now=["shared_buffers"])
    ret = c.applied()
    assert ret["result"] is None
    assert ret["changes"] == {"restarted": ["shared_buffers"]}
    assert c.calls == []


def test_changed_files_reload_only_when_no_setting_needs_a_restart(cluster):
    c = cluster()
    ret = c.watched()
    assert ret["result"] is True
    assert ret["changes"] == {"reloaded": True}
    assert c.calls == [("reload", "postgresql@15-main")]


def test_changed_files_restart_when_a_changed_setting_needs_it(cluster):
    c = cluster(pending_after_reload=["listen_addresses"])
    ret = c.watched()
    assert ret["result"] is True
    assert ret["changes"] == {"reloaded": True, "restarted": ["listen_addresses"]}
    assert c.calls == [("reload", "postgresql@15-main"), ("restart", "postgresql@15-main")]


def test_test_mode_predicts_the_reload(cluster):
    c = cluster(test=True)
    ret = c.watched()
    assert ret["result"] is None
    assert ret["changes"] == {"reloaded": True}
    assert c.calls == []


def test_errors_in_the_files_stop_it_before_any_reload(cluster):
    c = cluster(errors=["pg_hba.conf line 7: invalid IP address"])
    ret = c.watched()
    assert ret["result"] is False
    assert "pg_hba.conf line 7: invalid IP address" in ret["comment"]
    assert c.calls == []


def test_a_reload_the_server_never_reads_fails(cluster):
    c = cluster(reload_seen=False)
    ret = c.watched(timeout=0.5)
    assert ret["result"] is False
    assert "not reloaded within" in ret["comment"]


def test_a_restart_that_leaves_settings_pending_fails(cluster):
    c = cluster(pending_now=["shared_buffers"], restart_clears=False)
    ret = c.applied()
    assert ret["result"] is False
    assert "still waiting for a restart" in ret["comment"]


def test_psql_failing_fails_the_state(cluster):
    c = cluster(psql_fails=True)
    ret = c.applied()
    assert ret["result"] is False
    assert "connection refused" in ret["comment"]


def test_a_dry_run_before_the_server_exists_predicts_instead_of_failing(cluster):
    c = cluster(test=True, psql_fails=True)
    ret = c.watched()
    assert ret["result"] is None and ret["changes"] == {}
    assert "cannot be asked yet" in ret["comment"]


def test_watch_of_another_function_is_refused(salt_loader):
    states = salt_loader().states
    ret = states["postgresql_cluster.mod_watch"]("postgresql@15-main", sfun="running")
    assert ret["result"] is False
