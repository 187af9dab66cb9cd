"""systemd sandboxing without a box: the drop-ins base/sandbox.sls writes from
each component's `sandbox` settings (salt://sandbox.yaml), which units a box
sandboxes for its roles, pillar overrides, and the pillars refused."""

import pytest
from conftest import load_pillar, with_settings

DROP_IN = "/etc/systemd/system/{}.d/50-webstack-sandbox.conf"


def drop_ins(high):
    """unit -> the drop-in's [Service] lines (file.managed), or None (file.absent)."""
    out = {}
    for state in high.values():
        if "file" not in state:
            continue
        args = {k: v for item in state["file"] if isinstance(item, dict) for k, v in item.items()}
        name = args["name"]
        if not name.endswith("/50-webstack-sandbox.conf"):
            continue
        unit = name.split("/")[-2].removesuffix(".d")
        if "managed" in state["file"]:
            lines = args["contents"].splitlines()
            assert lines[1] == "[Service]"
            out[unit] = lines[2:]
        else:
            assert "absent" in state["file"]
            out[unit] = None
    return out


def sandboxed(high):
    return {unit for unit, lines in drop_ins(high).items() if lines is not None}


def test_the_demo_box_sandboxes_every_daemon_it_runs(render):
    high = render("debian-12", load_pillar("demo"), "base.sandbox", roles=[])
    assert sandboxed(high) == {
        "nginx.service",
        "supervisor.service",
        "rsyslog.service",
        "postgresql@15-main.service",
        "rabbitmq-server.service",
        "redis-server.service",
    }
    units = drop_ins(high)
    # The app writes only its shared directory (uploads, logs) and /run.
    assert "ReadWritePaths=/srv/demo/shared" in units["supervisor.service"]
    assert "ProtectSystem=strict" in units["supervisor.service"]
    assert "NoNewPrivileges=yes" in units["supervisor.service"]
    assert "PrivateTmp=yes" in units["supervisor.service"]
    # Lists are one line each; an empty list resets (no capabilities).
    assert "CapabilityBoundingSet=" in units["rabbitmq-server.service"]
    # JIT compilers (PostgreSQL, Erlang) need writable, executable memory.
    assert not any(line.startswith("MemoryDenyWriteExecute") for line in units["postgresql@15-main.service"])
    assert not any(line.startswith("MemoryDenyWriteExecute") for line in units["rabbitmq-server.service"])
    # Reloaded until systemd lists it unchanged; restarted when it changes.
    loaded = high["base-nginx.service-sandbox-is-loaded"]["cmd"]
    assert {
        "unless": "systemctl show -P DropInPaths nginx.service | grep -q /50-webstack-sandbox.conf"
        ' && test "$(systemctl show -P NeedDaemonReload nginx.service)" = no'
    } in loaded
    restart = high["base-nginx.service-restarts-into-its-sandbox"]["cmd"]
    assert {"name": "systemctl try-restart nginx.service"} in restart
    assert {"onchanges": [{"file": "base-nginx.service-is-sandboxed"}]} in restart


@pytest.mark.parametrize(
    "roles, expected",
    [
        (["db"], {"rsyslog.service", "postgresql@15-main.service"}),
        (["db_replica"], {"rsyslog.service", "postgresql@15-main.service"}),
        (["web"], {"rsyslog.service", "nginx.service", "supervisor.service"}),
        (["worker"], {"rsyslog.service", "supervisor.service"}),
        (["queue"], {"rsyslog.service", "rabbitmq-server.service"}),
        # redis only where it is enabled (the minimal pillar: memcached).
        (["cache"], {"rsyslog.service"}),
        (["balancer"], {"rsyslog.service"}),
    ],
)
def test_a_unit_is_sandboxed_only_on_boxes_that_run_it(render, roles, expected):
    pillar = with_settings(
        load_pillar("demo"),
        roles=roles,
        cache={"redis": {"enabled": False}},
        # A replica follows a primary (over TLS) with the replication role's password.
        peers={"db": ["10.0.0.5"]},
        peer_tls=load_pillar("peer_tls")["webstack"]["peer_tls"],
        postgresql={"replication": {"password": "repl-s3cret"}},
    )
    high = render("debian-12", pillar, "base.sandbox", roles=[])
    assert sandboxed(high) == expected
    # The others' drop-ins are removed (a component that left the box).
    assert {u for u, lines in drop_ins(high).items() if lines is None} >= {"nginx.service"} - expected


def test_the_pillar_overrides_directives_or_turns_a_sandbox_off(render):
    pillar = with_settings(
        load_pillar("demo"),
        nginx={"sandbox": {"directives": {"ProtectSystem": "full", "MemoryDenyWriteExecute": None}}},
        rabbitmq={"sandbox": {"enabled": False}},
        supervisor={
            "sandbox": {"directives": {"ReadWritePaths": ["{app.shared_dir}", "/run", "/var/cache/demo"]}}
        },
    )
    high = render("debian-12", pillar, "base.sandbox", roles=[])
    units = drop_ins(high)
    assert "ProtectSystem=full" in units["nginx.service"]
    assert not any(line.startswith("MemoryDenyWriteExecute") for line in units["nginx.service"])
    assert units["rabbitmq-server.service"] is None
    # Turned off: reloaded until systemd no longer lists it.
    loaded = high["base-rabbitmq-server.service-sandbox-is-loaded"]["cmd"]
    assert any(
        str(arg.get("unless", "")).startswith("! systemctl show") for arg in loaded if isinstance(arg, dict)
    )
    rw = [line for line in units["supervisor.service"] if line.startswith("ReadWritePaths=")]
    assert rw == ["ReadWritePaths=/srv/demo/shared", "ReadWritePaths=/run", "ReadWritePaths=/var/cache/demo"]


@pytest.mark.parametrize(
    "os_name, unit",
    [
        ("ubuntu-22.04", "postgresql@14-main"),
        ("ubuntu-24.04", "postgresql@16-main"),
        ("ubuntu-26.04", "postgresql@18-main"),
        ("debian-13", "postgresql@17-main"),
    ],
)
def test_the_postgresql_unit_follows_the_release(render, os_name, unit):
    high = render(os_name, with_settings(load_pillar("demo"), roles=["db"]), "base.sandbox", roles=[])
    assert f"{unit}.service" in sandboxed(high)


@pytest.mark.parametrize(
    "section, key",
    [
        (
            {"nginx": {"sandbox": {"directives": {"protectSystem": "strict"}}}},
            "webstack:nginx:sandbox:directives",
        ),
        ({"nginx": {"sandbox": {"enabled": "yes"}}}, "webstack:nginx:sandbox:enabled"),
        (
            {"cache": {"redis": {"sandbox": {"directives": {"ReadWritePaths": "/a\nExecStart=/bin/sh"}}}}},
            "webstack:cache:redis:sandbox:directives:ReadWritePaths",
        ),
    ],
)
def test_bad_sandbox_settings_are_refused_naming_the_key(salt_loader, section, key):
    problems = salt_loader().salt["webstack.validate"](
        with_settings(load_pillar("demo"), **section), {"roles": []}
    )
    assert any(p.startswith(key) for p in problems), problems


def test_ubuntus_rsyslog_may_drop_to_its_syslog_user(render):
    units = drop_ins(render("ubuntu-24.04", load_pillar("demo"), "base.sandbox", roles=[]))
    caps = [line for line in units["rsyslog.service"] if line.startswith("CapabilityBoundingSet=")]
    assert len(caps) == 1 and {"CAP_SETUID", "CAP_SETGID", "CAP_SYSLOG"} <= set(caps[0].split("=")[1].split())
    debian = drop_ins(render("debian-12", load_pillar("demo"), "base.sandbox", roles=[]))
    assert "CAP_SETUID" not in " ".join(debian["rsyslog.service"])
