"""_modules/supervisorctl.py and _states/supervisord.py through Salt's loader,
with supervisord's XML-RPC questions and supervisorctl's actions (`cmd.run_all`)
answered by a small supervisord double; and the XML-RPC transport against a
real server on a unix socket."""

import socketserver
import threading
import xmlrpc.client
import xmlrpc.server

import pytest
from salt.exceptions import CommandExecutionError


class FakeSupervisor:
    """
    supervisord as its XML-RPC answers and supervisorctl show it: the configs
    on disk, the ones it loaded, each program's state and pid. Every question
    and command is kept in `calls`.
    """

    def __init__(self, disk=None, loaded=None, states=None, unreachable=0, then=None, down=False):
        # down: supervisord is not running (a fresh box), its socket answers nothing.
        self.down = down
        self.disk = dict(disk or {})
        self.loaded = dict(loaded if loaded is not None else self.disk)
        running = {n: ("RUNNING", 100 + i) for i, n in enumerate(self.loaded)}
        self.states = dict(states if states is not None else running)
        self.unreachable = unreachable
        # States programs move to once they have been asked about.
        self.then = dict(then or {})
        self.calls = []
        self.next_pid = 500

    def _start(self, name):
        self.next_pid += 1
        self.states[name] = ("RUNNING", self.next_pid)

    def _diff(self):
        added = [n for n in self.disk if n not in self.loaded]
        changed = [n for n in self.disk if n in self.loaded and self.disk[n] != self.loaded[n]]
        removed = [n for n in self.loaded if n not in self.disk]
        return added, changed, removed

    def rpc(self, method, *args, wait=10):
        """supervisord's XML-RPC answers to the questions the module asks."""
        if self.down:
            self.calls.append(["no answer"])
            raise CommandExecutionError("supervisord does not answer on /var/run/supervisor.sock")
        if method == "supervisor.getState":
            return {"statecode": 1, "statename": "RUNNING"}
        if method == "supervisor.getAllProcessInfo":
            self.calls.append(["status"])
            states, self.states = self.states, {**self.states, **self.then}
            self.then = {}
            return [
                {
                    "name": name.rpartition(":")[2],
                    "group": name.partition(":")[0],
                    "statename": state,
                    "pid": pid or 0,
                    "description": f"pid {pid}, uptime 0:01:00" if state == "RUNNING" else "Not started",
                }
                for name, (state, pid) in sorted(states.items())
            ]
        assert method == "supervisor.reloadConfig", method
        self.calls.append(["reread"])
        return [list(self._diff())]

    def run_all(self, cmd, **kwargs):
        assert kwargs.get("python_shell") is False and cmd[0] == "supervisorctl"
        args = list(cmd[1:])
        if self.unreachable:
            self.unreachable -= 1
            return {"retcode": 7, "stdout": "unix:///var/run/supervisor.sock no such file", "stderr": ""}
        self.calls.append(args)
        out = ""
        if args[0] == "update":
            added, changed, removed = self._diff()
            rows = []
            for name in args[1:]:
                if name in removed:
                    del self.loaded[name], self.states[name]
                    rows += [f"{name}: stopped", f"{name}: removed process group"]
                elif name in added or name in changed:
                    self.loaded[name] = self.disk[name]
                    self._start(name)
                    rows.append(f"{name}: {'added' if name in added else 'updated'} process group")
            out = "\n".join(rows)
        elif args[0] == "start" and self.states[args[1]][0] in ("BACKOFF", "STARTING", "RUNNING"):
            # supervisord's answer while it retries a program itself; here
            # the retry comes up.
            self._start(args[1])
            out = f"{args[1]}: ERROR (already started)"
        elif args[0] == "start":
            self._start(args[1])
            out = f"{args[1]}: started"
        elif args[0] == "restart":
            self._start(args[1])
            out = f"{args[1]}: stopped\n{args[1]}: started"
        elif args[0] == "signal":
            out = f"{args[2]}: signalled"
        return {"retcode": 0, "stdout": out, "stderr": ""}

    def acted(self):
        """The calls that change something (not status / reread)."""
        return [c for c in self.calls if c[0] not in ("status", "reread", "no answer")]


@pytest.fixture
def make(salt_loader):
    def build(fake, test=False, proc=None):
        fakes = {"cmd.run_all": fake.run_all, "supervisorctl.rpc": fake.rpc}
        if proc is not None:
            fakes["supervisorctl.process"] = lambda pid: proc
        return salt_loader(fakes=fakes, test=test)

    return build


# -- questions (XML-RPC) and actions (supervisorctl) ------------------------


def test_status_names_programs_as_supervisorctl_does(make):
    fake = FakeSupervisor(
        states={
            "shop-gunicorn": ("RUNNING", 980),
            "shop-celerybeat": ("FATAL", None),
            "web:shop-extra": ("STARTING", None),
        }
    )
    found = make(fake).salt["supervisorctl.status"]()
    assert found["shop-gunicorn"] == {
        "state": "RUNNING",
        "pid": 980,
        "description": "pid 980, uptime 0:01:00",
    }
    assert found["shop-celerybeat"]["state"] == "FATAL" and found["shop-celerybeat"]["pid"] is None
    assert found["web:shop-extra"]["state"] == "STARTING"
    assert make(fake).salt["supervisorctl.status"]("shop-old") == {}


def test_reread_says_what_was_added_changed_and_removed(make):
    fake = FakeSupervisor(disk={"shop-a": 1, "shop-b": 2}, loaded={"shop-b": 1, "shop-c": 1})
    assert make(fake).salt["supervisorctl.reread"]() == {
        "added": ["shop-a"],
        "changed": ["shop-b"],
        "removed": ["shop-c"],
    }


def test_actions_wait_for_supervisord_to_answer(make):
    fake = FakeSupervisor(
        disk={"shop-gunicorn": 1}, states={"shop-gunicorn": ("STOPPED", None)}, unreachable=2
    )
    assert "started" in make(fake).salt["supervisorctl.start"]("shop-gunicorn")


class UnixXMLRPCServer(socketserver.UnixStreamServer, xmlrpc.server.SimpleXMLRPCDispatcher):
    """supervisord's side of the socket: XML-RPC over HTTP on a unix socket."""

    def __init__(self, path):
        xmlrpc.server.SimpleXMLRPCDispatcher.__init__(self, allow_none=True)
        self.logRequests = False
        socketserver.UnixStreamServer.__init__(self, path, Handler)


class Handler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    disable_nagle_algorithm = False  # a TCP option

    def address_string(self):
        return "unix"


def test_rpc_talks_xmlrpc_over_the_socket_and_waits_for_it(salt_loader, tmp_path):
    from salt.exceptions import CommandExecutionError

    ldr = salt_loader()
    rpc = ldr.salt["supervisorctl.rpc"]
    path = str(tmp_path / "supervisor.sock")
    rpc.func.__globals__["SOCKET"] = path

    def cant_reread():
        raise xmlrpc.client.Fault(92, "CANT_REREAD: File contains parsing errors: x.conf")

    servers, states = [], iter(["SHUTDOWN_STATE", "RUNNING"])

    def get_state():
        state = next(states)
        if state == "SHUTDOWN_STATE":
            raise xmlrpc.client.Fault(6, "SHUTDOWN_STATE")
        return {"statename": state}

    def serve():
        server = UnixXMLRPCServer(path)
        server.register_function(lambda: [[["shop-a"], [], []]], "supervisor.reloadConfig")
        server.register_function(cant_reread, "supervisor.getAllProcessInfo")
        server.register_function(get_state, "supervisor.getState")
        servers.append(server)
        server.serve_forever()

    # supervisord's socket appears a moment after the first call: rpc waits for it.
    threading.Timer(0.7, serve).start()
    try:
        assert rpc("supervisor.reloadConfig", wait=10) == [[["shop-a"], [], []]]
        with pytest.raises(CommandExecutionError, match="getAllProcessInfo: CANT_REREAD"):
            rpc("supervisor.getAllProcessInfo")
        # Shutting down for a restart: asked again.
        assert rpc("supervisor.getState") == {"statename": "RUNNING"}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    rpc.func.__globals__["SOCKET"] = str(tmp_path / "gone.sock")
    with pytest.raises(CommandExecutionError, match="does not answer"):
        rpc("supervisor.getState", wait=0.6)


def test_process_reads_argv_environment_and_virtualenv(salt_loader, tmp_path):
    venv = tmp_path / "venvs" / "abc"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    proc = tmp_path / "proc" / "42"
    proc.mkdir(parents=True)
    (proc / "cmdline").write_bytes(f"{venv}/bin/python3\0/srv/shop/current/.venv/bin/gunicorn\0-w\0".encode())
    (proc / "environ").write_bytes(b"HOME=/srv/shop\0SECRET_KEY=a=b\0")
    ldr = salt_loader()
    ldr.salt["supervisorctl.process"].func.__globals__["PROC"] = str(tmp_path / "proc")
    info = ldr.salt["supervisorctl.process"](42)
    assert info["argv"][1] == "/srv/shop/current/.venv/bin/gunicorn"
    assert info["environ"] == {"HOME": "/srv/shop", "SECRET_KEY": "a=b"}
    assert info["virtualenv"] == str(venv)


# -- supervisord.running ---------------------------------------------------


def test_unchanged_running_program_is_left_alone(make):
    fake = FakeSupervisor(disk={"shop-gunicorn": 1, "shop-celery": 1})
    ret = make(fake).states["supervisord.running"]("shop-gunicorn", reload_signal="HUP")
    assert ret["result"] is True and ret["changes"] == {}
    assert "is running (pid 100)" in ret["comment"]
    assert fake.acted() == []


def test_a_changed_config_updates_just_that_program(make):
    fake = FakeSupervisor(
        disk={"shop-gunicorn": 2, "shop-celery": 2}, loaded={"shop-gunicorn": 1, "shop-celery": 1}
    )
    ret = make(fake).states["supervisord.running"]("shop-celery")
    assert ret["result"] is True and ret["changes"] == {"config": "changed"}
    assert fake.acted() == [["update", "shop-celery"]]
    assert fake.loaded["shop-gunicorn"] == 1


def test_a_new_program_is_added(make):
    fake = FakeSupervisor(disk={"shop-gunicorn": 1}, loaded={}, states={})
    ret = make(fake).states["supervisord.running"]("shop-gunicorn")
    assert ret["changes"] == {"config": "added"} and "added and running" in ret["comment"]


def test_new_programs_are_added_together_and_their_own_states_say_so(make):
    fake = FakeSupervisor(disk={"shop-gunicorn": 1, "shop-celery": 1, "shop-old": 1}, loaded={}, states={})
    ldr = make(fake)
    together = ["shop-gunicorn", "shop-celery", "shop-celerybeat"]
    first = ldr.states["supervisord.running"]("shop-gunicorn", together=together)
    # One update adds the new ones this run brings (celerybeat has no config yet, old isn't ours).
    assert fake.acted() == [["update", "shop-gunicorn", "shop-celery"]]
    assert first["changes"] == {"config": "added"} and "added and running" in first["comment"]
    second = ldr.states["supervisord.running"]("shop-celery", together=together)
    assert second["result"] is True and second["changes"] == {"config": "added"}
    assert fake.acted() == [["update", "shop-gunicorn", "shop-celery"]]
    # A later run: nothing new, nothing said.
    again = make(fake).states["supervisord.running"]("shop-celery", together=together)
    assert again["changes"] == {} and fake.acted() == [["update", "shop-gunicorn", "shop-celery"]]


def test_a_changed_config_is_never_updated_with_another_program(make):
    fake = FakeSupervisor(
        disk={"shop-gunicorn": 2, "shop-celery": 2}, loaded={"shop-gunicorn": 1, "shop-celery": 1}
    )
    ret = make(fake).states["supervisord.running"]("shop-gunicorn", together=["shop-gunicorn", "shop-celery"])
    assert ret["changes"] == {"config": "changed"}
    assert fake.acted() == [["update", "shop-gunicorn"]]


def test_test_mode_predicts_without_acting(make):
    fake = FakeSupervisor(disk={"shop-gunicorn": 2}, loaded={"shop-gunicorn": 1})
    ret = make(fake, test=True).states["supervisord.running"]("shop-gunicorn")
    assert ret["result"] is None and ret["changes"] == {"config": "changed"}
    assert fake.acted() == []


def test_a_stopped_program_is_started(make):
    fake = FakeSupervisor(disk={"shop-celery": 1}, states={"shop-celery": ("FATAL", None)})
    ret = make(fake).states["supervisord.running"]("shop-celery")
    assert ret["changes"] == {"state": {"old": "FATAL", "new": "RUNNING"}}
    assert fake.acted() == [["start", "shop-celery"]]


def test_a_program_supervisord_retries_is_waited_for(make):
    # Started by supervisord before the release it runs was live, it failed
    # and is in BACKOFF: `start` answers "already started", the retry counts.
    fake = FakeSupervisor(disk={"shop-gunicorn": 1}, states={"shop-gunicorn": ("BACKOFF", None)})
    ret = make(fake).states["supervisord.running"]("shop-gunicorn")
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"state": {"old": "BACKOFF", "new": "RUNNING"}}


def test_a_start_in_progress_is_judged_once_it_settles(make):
    fake = FakeSupervisor(
        disk={"shop-gunicorn": 1},
        states={"shop-gunicorn": ("STARTING", 321)},
        then={"shop-gunicorn": ("FATAL", None)},
    )
    ret = make(fake).states["supervisord.running"]("shop-gunicorn")
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"state": {"old": "FATAL", "new": "RUNNING"}}


def test_an_unknown_program_fails_clearly(make):
    ret = make(FakeSupervisor()).states["supervisord.running"]("shop-gunicorn")
    assert ret["result"] is False and "no program shop-gunicorn" in ret["comment"]


def test_another_virtualenv_means_a_restart(make, tmp_path):
    live = tmp_path / "venvs" / "new"
    live.mkdir(parents=True)
    (tmp_path / "current").mkdir()
    (tmp_path / "current" / ".venv").symlink_to(live)
    proc = {"argv": [], "environ": {}, "virtualenv": str(tmp_path / "venvs" / "old")}
    fake = FakeSupervisor(disk={"shop-gunicorn": 1})
    ret = make(fake, proc=proc).states["supervisord.running"](
        "shop-gunicorn", reload_signal="HUP", virtualenv=str(tmp_path / "current" / ".venv")
    )
    assert ret["result"] is True and "runs virtualenv" in ret["changes"]["restarted"]
    assert fake.acted() == [["restart", "shop-gunicorn"]]
    dry = FakeSupervisor(disk={"shop-gunicorn": 1})
    ret = make(dry, test=True, proc=proc).states["supervisord.running"](
        "shop-gunicorn", virtualenv=str(tmp_path / "current" / ".venv")
    )
    assert ret["result"] is None and dry.acted() == []


def test_a_changed_environment_means_a_restart_naming_keys_only(make, tmp_path):
    env = tmp_path / "env"
    env.write_text("SECRET_KEY='new-secret'\nDEBUG='false'\n")
    proc = {"argv": [], "environ": {"SECRET_KEY": "old-secret", "DEBUG": "false"}, "virtualenv": None}
    fake = FakeSupervisor(disk={"shop-celery": 1})
    ret = make(fake, proc=proc).states["supervisord.running"]("shop-celery", env_file=str(env))
    assert "differs from" in ret["changes"]["restarted"] and "SECRET_KEY" in ret["comment"]
    assert "secret" not in str(ret).replace("SECRET_KEY", "")
    same = {
        "argv": [],
        "environ": {"SECRET_KEY": "new-secret", "DEBUG": "false", "HOME": "/"},
        "virtualenv": None,
    }
    fake = FakeSupervisor(disk={"shop-celery": 1})
    assert (
        make(fake, proc=same).states["supervisord.running"]("shop-celery", env_file=str(env))["changes"] == {}
    )


# -- watch and absent --------------------------------------------------------


def test_watch_sends_the_reload_signal_or_restarts(make):
    fake = FakeSupervisor(disk={"shop-gunicorn": 1, "shop-celery": 1})
    ldr = make(fake)
    ret = ldr.states["supervisord.mod_watch"]("shop-gunicorn", sfun="running", reload_signal="HUP")
    assert ret["changes"] == {"watch": "signalled HUP"}
    ret = ldr.states["supervisord.mod_watch"]("shop-celery", sfun="running")
    assert ret["changes"] == {"watch": "restarted"}
    assert fake.acted() == [["signal", "HUP", "shop-gunicorn"], ["restart", "shop-celery"]]
    dry = FakeSupervisor(disk={"shop-gunicorn": 1})
    ret = make(dry, test=True).states["supervisord.mod_watch"](
        "shop-gunicorn", sfun="running", reload_signal="HUP"
    )
    assert ret["result"] is None and dry.acted() == []


def test_absent_removes_a_program_whose_config_is_gone(make):
    fake = FakeSupervisor(disk={"shop-gunicorn": 1}, loaded={"shop-gunicorn": 1, "shop-celerybeat": 1})
    ret = make(fake).states["supervisord.absent"]("shop-celerybeat")
    assert ret["changes"] == {"removed": "shop-celerybeat"}
    assert "shop-celerybeat" not in fake.states
    ret = make(fake).states["supervisord.absent"]("shop-celerybeat")
    assert ret["result"] is True and ret["changes"] == {}


def test_absent_with_the_config_still_there_fails_but_test_mode_predicts(make):
    fake = FakeSupervisor(disk={"shop-celerybeat": 1})
    ret = make(fake).states["supervisord.absent"]("shop-celerybeat")
    assert ret["result"] is False and "remove it first" in ret["comment"]
    ret = make(fake, test=True).states["supervisord.absent"]("shop-celerybeat")
    assert ret["result"] is None and fake.acted() == []


def test_on_a_box_without_supervisord_yet_test_mode_predicts_and_asks_once(make):
    fake = FakeSupervisor(down=True)
    ldr = make(fake, test=True)
    assert ldr.salt["supervisorctl.answers"]() is False
    ret = ldr.states["supervisord.running"]("shop-gunicorn", reload_signal="HUP")
    assert ret["result"] is None and ret["changes"] == {"config": "added"}
    assert (
        ret["comment"]
        == "shop-gunicorn would be added and started once supervisord runs (it does not answer yet)"
    )
    ret = ldr.states["supervisord.absent"]("shop-celerybeat")
    assert ret["result"] is True and ret["changes"] == {}
    assert "nothing to remove" in ret["comment"]
    # One question each, never waited on, nothing done.
    assert fake.calls == [["no answer"]] * 3
    # A real run still fails when supervisord does not answer (its service state failed).
    ret = make(fake).states["supervisord.running"]("shop-gunicorn")
    assert ret["result"] is False and "does not answer" in ret["comment"]
