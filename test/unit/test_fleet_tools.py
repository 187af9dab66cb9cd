"""The fleet's helpers (tools/harness/fleet.py), its pillar and the master config:
no Docker, no Salt daemons."""

import copy

import pytest
import salt.config
import salt.loader
import yaml
from conftest import HOST_GRAINS, OS_GRAINS, RenderFailed, load_pillar
from cryptography.hazmat.primitives import serialization

from tools.harness.dockerbox import REPO
from tools.harness.fleet import (
    MASTER_DROPIN,
    MINIONS,
    PILLARENV,
    gen_keys,
    minion_apply,
    parse_returns,
    row,
    waves,
)

FLEET_PILLAR = REPO / "salt" / "pillar" / "fleet"
MASTER_CONF = yaml.safe_load((REPO / "etc/salt/master.d/webstack.conf").read_text())


def ok_state(sid, changes=None, result=True):
    key = f"pkg_|-{sid}_|-{sid}_|-installed"
    return key, {"__id__": sid, "result": result, "changes": changes or {}, "comment": "", "duration": 5.0}


# -- salt CLI output -----------------------------------------------------------


def test_returns_are_read_one_json_object_a_line():
    lines = ['{"web1": true}', "", "some warning on stdout", '{"db": {"a": 1}}', '{"broken": ']
    assert parse_returns(lines) == {"web1": True, "db": {"a": 1}}


def test_a_state_return_becomes_an_apply():
    states = dict([ok_state("a"), ok_state("b", {"x": 1}), ok_state("c", result=False)])
    result = minion_apply(states, 12.5)
    assert result.wall == 12.5
    assert result.changed == ["b"]
    assert result.failed == [("c", "")]
    assert not result.ok


def test_render_errors_and_silence_are_failures():
    errors = minion_apply(["Rendering SLS 'base:nginx' failed: bad"], 3.0)
    assert not errors.ok and errors.errors == ["Rendering SLS 'base:nginx' failed: bad"]
    gone = minion_apply("Minion did not return. [No response]", 3.0)
    assert not gone.ok and "did not return" in gone.errors[0]
    assert not minion_apply({}, 1.0).ok


def test_row_shows_counts_duration_and_failures():
    states = dict([ok_state("a"), ok_state("b", {"x": 1}), ok_state("c", result=False)])
    line = row("web1", minion_apply(states, 42.0))
    assert line.startswith("web1")
    assert "3 states:    1 ok,    1 changed,   1 failed" in line
    assert "42.0 s" in line and "FAILED c" in line


# -- the first converge's waves --------------------------------------------------


def test_waves_data_tier_and_balancer_first_then_the_app_hosts():
    assert waves(MINIONS) == [["balancer", "db"], ["web1", "web2", "worker", "replica"]]


def test_waves_of_a_single_box():
    assert waves({"box": ["web", "worker", "db", "queue", "cache"]}) == [["box"]]


# -- keys -------------------------------------------------------------------------


def test_generated_keys_are_a_matching_rsa_pair():
    private, public = gen_keys()
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_private_key(private.encode(), password=None)
    derived = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert derived.decode() == public
    assert key.key_size == 2048
    assert gen_keys()[1] != public


# -- master config and fleet pillar --------------------------------------------------


def test_master_serves_this_tree_and_the_fleet_dropin_adds_its_pillar():
    assert MASTER_CONF["file_roots"] == {"base": ["/opt/webstack/salt/states"]}
    assert MASTER_CONF["pillar_roots"] == {"base": ["/opt/webstack/salt/pillar"]}
    dropin = yaml.safe_load(MASTER_DROPIN)
    assert dropin == {
        "pillar_roots": {PILLARENV: ["/opt/webstack/salt/pillar/fleet"]},
        "pillarenv": PILLARENV,
    }


def test_salt_ssh_ships_every_component_and_shared_file():
    """extra_filerefs: the files our templates read on a salt-ssh target."""
    roles = yaml.safe_load((REPO / "salt/states/roles.yaml").read_text())
    components = {component for components in roles.values() for component in components}
    shared = {p.name for p in (REPO / "salt/states").iterdir() if p.is_file() and p.name != "top.sls"}
    refs = {ref.removeprefix("salt://") for ref in MASTER_CONF["extra_filerefs"]}
    assert refs == components | shared
    assert MASTER_CONF["module_dirs"] == ["/opt/webstack"]
    assert (REPO / "_wrapper" / "webstack.py").is_file()


def fleet_top():
    return yaml.safe_load((FLEET_PILLAR / "top.sls").read_text())[PILLARENV]


def matches(target, body, minion):
    """Whether a top entry (glob or list match, by minion id) holds `minion`."""
    kind = next((item["match"] for item in body if isinstance(item, dict) and "match" in item), "glob")
    if kind == "list":
        return minion in target.split(",")
    assert kind == "glob", f"{target}: match {kind}"
    return target == "*" or target == minion


def fleet_pillar(minion):
    out = {}
    for target, body in fleet_top().items():
        if matches(target, body, minion):
            for sls in (item for item in body if isinstance(item, str)):
                doc = yaml.safe_load((FLEET_PILLAR / f"{sls}.sls").read_text())
                _merge(out, doc)
    return out


def _merge(dst, src):
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge(dst[key], value)
        else:
            dst[key] = value


def test_fleet_pillar_is_targeted_by_minion_id_only():
    for target, body in fleet_top().items():
        kinds = {item.get("match") for item in body if isinstance(item, dict)}
        assert kinds <= {"list", None}, f"{target}: {kinds}"
        assert not any(c in target for c in "@:"), f"{target}: not a minion id"
        if target != "*":
            assert set(target.split(",")) <= set(MINIONS), target


def test_secrets_reach_only_the_boxes_that_use_them():
    def secrets(minion):
        ws = fleet_pillar(minion)["webstack"]
        return {
            "db": bool((ws.get("postgresql") or {}).get("password")),
            "app": bool((ws.get("app") or {}).get("secrets")),
        }

    assert secrets("balancer") == {"db": False, "app": False}
    assert secrets("db") == secrets("replica") == {"db": True, "app": False}
    for minion in ("web1", "web2", "worker"):
        assert secrets(minion) == {"db": True, "app": True}


# What the master adds to a minion's pillar and mine in the fleet, rendered
# here without one: its ext_pillar's peer TLS (placeholders), and the peers
# (an address for each minion, by fleet role).
ADDRESSES = {minion: f"10.0.0.{n}" for n, minion in enumerate(sorted(MINIONS), start=10)}
MASTERS_PART = {
    "peer_tls": load_pillar("peer_tls")["webstack"]["peer_tls"],
    "peers": {
        role: [ADDRESSES[m] for m in sorted(MINIONS) if role in MINIONS[m]]
        for role in {r for roles in MINIONS.values() for r in roles}
    },
}


@pytest.mark.parametrize("minion", sorted(MINIONS))
@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_each_fleet_minion_highstate_renders(render, os_name, minion):
    pillar = fleet_pillar(minion)
    _merge(pillar["webstack"], MASTERS_PART)
    try:
        high = render(os_name, pillar, roles=MINIONS[minion])
    except RenderFailed as exc:
        pytest.fail(f"{minion} on {os_name}: {exc}")
    sls = {body["__sls__"].split(".")[0] for body in high.values()}
    assert {"base", "users", "ssh", "firewall", "logging"} <= sls
    if "balancer" in MINIONS[minion]:
        assert "balancer" in sls and "app" not in sls


# -- salt-ssh: webstack.* on the salt-ssh host -------------------------------------


def test_ssh_wrapper_gives_the_settings_from_the_salt_ssh_hosts_files(tmp_path):
    """_wrapper/webstack.py, loaded the way salt-ssh loads wrappers (module_dirs)."""
    grains = {**HOST_GRAINS, **OS_GRAINS["ubuntu-24.04"], "roles": ["balancer"]}
    opts = salt.config.master_config(None)
    opts.update(
        file_roots={"base": [str(REPO / "salt" / "states")]},
        cachedir=str(tmp_path / "cache"),
        module_dirs=[str(REPO)],
        grains=grains,
        pillar={"webstack": {"project": {"name": "shop", "domains": ["shop.example.com"]}}},
    )
    mined = []

    class Functions(dict):
        """As salt-ssh's FunctionWrapper: a wrapper's function before the target's."""

        def __missing__(self, name):
            return wrappers[name]

    wrappers = salt.loader.ssh_wrapper(
        opts, Functions({"mine.get": lambda *a, **k: mined.append(a) or {}}), {}
    )
    ws = wrappers["webstack.settings"]()
    assert ws["roles"] == ["balancer"]
    assert ws["components"] == [
        "base",
        "hardening",
        "users",
        "ssh",
        "firewall",
        "fail2ban",
        "logging",
        "balancer",
    ]
    assert ws["balancer"]["backend_port"] == 80 and ws["project"]["root"] == "/srv/shop"
    # Peers not in the pillar come from (salt-ssh's) mine.
    assert ("roles:db", "network.ip_addrs") in mined
    # fail2ban's derive hook (_wrapper/bans.py) ran there too: one mine call for the fleet.
    assert ws["fail2ban"]["never_banned"] == ["127.0.0.0/8", "::1"]
    assert ("*", "network.ip_addrs") in mined


# -- the master's highstate outputter (_output/highstate.py) -----------------------


def _outputters(module_dirs):
    opts = salt.config.master_config(None)
    opts.update(module_dirs=module_dirs, color=False)
    return salt.loader.outputters(opts)


REFUSED = "Pillar failed to render with the following messages:"
STATE_RUN = {
    "pkg_|-nginx is installed_|-nginx_|-installed": {
        "name": "nginx",
        "result": True,
        "comment": "All specified packages are already installed",
        "changes": {},
        "__run_num__": 0,
        "duration": 1.5,
        "start_time": "10:00:00.000000",
    }
}


def test_the_masters_outputter_prints_a_refused_pillar_as_its_problems_alone():
    ours = _outputters([str(REPO)])["highstate"]
    refused = [REFUSED, "webstack:rabbitmq:password: is required"]
    assert ours({"worker": refused}).splitlines() == ["worker: webstack:rabbitmq:password: is required"]
    two = refused + ["webstack:project:name: 'Demo!' is not a user name"]
    assert ours({"web1": two}).splitlines() == [
        "web1: webstack:rabbitmq:password: is required",
        "web1: webstack:project:name: 'Demo!' is not a user name",
    ]


def test_the_masters_outputter_leaves_every_other_return_to_salts_own():
    ours, salts = _outputters([str(REPO)])["highstate"], _outputters([])["highstate"]
    compile_error = ["Rendering SLS 'base:nginx' failed: mapping values are not allowed here"]
    # Salt's outputter edits what it prints (durations gain their unit): each call its own copy.
    for data in ({"web1": STATE_RUN}, {"web1": compile_error}, {"web1": "a string"}, {"web1": 3}):
        assert ours(copy.deepcopy(data)) == salts(copy.deepcopy(data)) != ""
    mixed = ours(
        {"worker": [REFUSED, "webstack:cache:backend: is required"], "web1": copy.deepcopy(STATE_RUN)}
    )
    salts_part = salts({"web1": copy.deepcopy(STATE_RUN)})
    assert mixed == "worker: webstack:cache:backend: is required\n" + salts_part
