"""
Shared fixtures for both test layers.

Fast layer (no Docker): `salt_loader` loads _modules/_states through Salt's
own loader with chosen functions faked; `render` compiles SLS files for given
grains and pillar with an in-process salt-call.

Container layer (everything under test/container/, marked `container`):
`boxes` starts systemd containers on a docker network of this session and
removes them at the end, whatever the outcome; `converge` applies a pillar
and checks the run; `assert_idempotent` is the shared zero-changes check.
"""

from __future__ import annotations

import concurrent.futures
import copy
import types
import uuid
from pathlib import Path

import pytest
import salt._logging
import salt.client
import salt.config
import salt.loader
import yaml

from tools.harness import peer_tls as peer_tls_harness
from tools.harness.dockerbox import (  # noqa: F401 - tests import them from here
    REPO,
    SUITES,
    Box,
    client,
    salt_image,
    with_settings,
)

SESSION = uuid.uuid4().hex[:6]
PILLARS = Path(__file__).parent / "pillars"
ALL_ROLES = ["balancer", "web", "worker", "db", "queue", "cache"]

# Grains of the releases we support, over whatever the test host is.
OS_GRAINS = {
    "ubuntu-22.04": dict(
        os="Ubuntu",
        os_family="Debian",
        osfinger="Ubuntu-22.04",
        osrelease="22.04",
        osmajorrelease=22,
        oscodename="jammy",
        lsb_distrib_codename="jammy",
    ),
    "ubuntu-24.04": dict(
        os="Ubuntu",
        os_family="Debian",
        osfinger="Ubuntu-24.04",
        osrelease="24.04",
        osmajorrelease=24,
        oscodename="noble",
        lsb_distrib_codename="noble",
    ),
    "ubuntu-26.04": dict(
        os="Ubuntu",
        os_family="Debian",
        osfinger="Ubuntu-26.04",
        osrelease="26.04",
        osmajorrelease=26,
        oscodename="resolute",
        lsb_distrib_codename="resolute",
    ),
    "debian-12": dict(
        os="Debian",
        os_family="Debian",
        osfinger="Debian-12",
        osrelease="12",
        osmajorrelease=12,
        oscodename="bookworm",
        lsb_distrib_codename="bookworm",
    ),
    "debian-13": dict(
        os="Debian",
        os_family="Debian",
        osfinger="Debian-13",
        osrelease="13",
        osmajorrelease=13,
        oscodename="trixie",
        lsb_distrib_codename="trixie",
    ),
}
HOST_GRAINS = dict(num_cpus=2, mem_total=4096, virtual="kvm", init="systemd", kernel="Linux")


def pytest_configure(config):
    # Importing salt (above) put Salt's temporary DeferredStreamHandler on the root
    # logger: it holds every warning and error until a Salt program sets up its logging
    # (salt._logging.setup_logging, which then shuts it down), and an atexit hook writes
    # what it holds to the sys.stderr of import time. Nothing sets up Salt's logging in
    # this process, and that stderr was pytest's capture file, closed before atexit runs:
    # the session's records came back after the summary as "--- Logging error ---"s.
    # Shut it down now, as setup_logging would: records are no longer held, and Salt's
    # warnings and errors go to the stderr of the moment (logging.lastResort), which
    # pytest captures per test and shows for a failing one.
    salt._logging.shutdown_temp_handler()


def pytest_collection_modifyitems(items):
    for item in items:
        if "container" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.container)


# -- pillars ---------------------------------------------------------------


def load_pillar(name: str) -> dict:
    """A pillar by name: `demo` (salt/pillar/demo.sls), `example`
    (salt/pillar/pillar.example, every key) or test/pillars/<name>.yaml."""
    if name == "demo":
        path = REPO / "salt" / "pillar" / "demo.sls"
    elif name == "example":
        path = REPO / "salt" / "pillar" / "pillar.example"
    else:
        path = PILLARS / f"{name}.yaml"
    return yaml.safe_load(path.read_text())


def bad_pillars() -> list:
    """The cases of test/pillars/bad.yaml as pytest params of (pillar, expected message)."""
    cases = []
    for case in yaml.safe_load((PILLARS / "bad.yaml").read_text()):
        pillar = load_pillar("demo")
        for path, value in (case.get("set") or {}).items():
            *parents, leaf = path.split(".")
            node = pillar["webstack"]
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        for path in case.get("drop") or []:
            *parents, leaf = path.split(".")
            node = pillar["webstack"]
            for part in parents:
                node = node[part]
            del node[leaf]
        marks = [pytest.mark.render_only] if case.get("render") else []
        cases.append(pytest.param(pillar, case["key"], id=case["key"].split(": ")[0], marks=marks))
    return cases


@pytest.fixture
def demo_pillar() -> dict:
    return load_pillar("demo")


# -- fast layer: Salt in-process -------------------------------------------


def minion_opts(tmp: Path, grains: dict | None = None, pillar_root: Path | None = None) -> dict:
    opts = salt.config.minion_config(None)
    opts.update(
        file_client="local",
        id="render-test",
        file_roots={"base": [str(REPO / "salt" / "states")]},
        pillar_roots={"base": [str(pillar_root)] if pillar_root else []},
        module_dirs=[str(REPO / "_modules")],
        states_dirs=[str(REPO / "_states")],
        cachedir=str(tmp / "cache"),
        pki_dir=str(tmp / "pki"),
        sock_dir=str(tmp / "sock"),
        log_file=str(tmp / "minion.log"),
        extension_modules=str(tmp / "extmods"),
        grains=dict(grains or {}),
        autoload_dynamic_modules=False,
        clean_dynamic_modules=False,
        # Where postgresql_major looks for the clusters a box runs: not the
        # test host's own (tests put theirs there).
        **{"postgresql_major.root": str(tmp / "root")},
    )
    # Salt's grains loader takes static grains from the `grains` key of
    # conf_file (not from opts): without this, a Caller renders with the test
    # host's real grains whatever OS it is told to pretend.
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "minion"
    conf.write_text(yaml.safe_dump({"grains": dict(grains or {})}))
    opts["conf_file"] = str(conf)
    return opts


_CORE_GRAINS = {}


def _core_grains(tmp: Path) -> dict:
    """The test host's core grains, gathered once (a third of a second each time)."""
    if not _CORE_GRAINS:
        _CORE_GRAINS.update(salt.loader.grains(minion_opts(tmp / "core-grains")))
    return copy.deepcopy(_CORE_GRAINS)


@pytest.fixture
def salt_loader(tmp_path):
    """
    Salt's loader over our _modules and _states, with `fakes`
    ({"cmd.run_all": fn, ...}) in place of real execution functions:
    `ldr = salt_loader(fakes={...}, grains={...}, pillar={...})`, then
    `ldr.salt["ufw.status"]()` or `ldr.states["ufw.rules_managed"](...)`.
    """

    def make(fakes=None, grains=None, pillar=None, test=False):
        opts = minion_opts(tmp_path, grains={**HOST_GRAINS, **(grains or {})})
        opts["test"] = test
        opts["pillar"] = pillar or {}
        opts["grains"] = {**_core_grains(tmp_path), **HOST_GRAINS, **(grains or {})}
        utils = salt.loader.utils(opts)
        context = {}
        mods = salt.loader.minion_mods(opts, utils=utils, context=context)
        for name, fn in (fakes or {}).items():
            mods[name] = fn
        states = salt.loader.states(opts, mods, utils, salt.loader.serializers(opts), context=context)
        return types.SimpleNamespace(salt=mods, states=states, opts=opts, context=context)

    return make


@pytest.fixture
def ext_pillar_for(tmp_path):
    """
    _pillar/webstack.py as a master runs it for a minion with `grains` (its
    fleet CA under tmp_path/pki, kept across calls):
    `ext_pillar_for({"roles": ["db"]})("db1", pillar)`.
    """
    return lambda grains: peer_tls_harness.ext_pillar(minion_opts(tmp_path, grains=grains))


@pytest.fixture(scope="session")
def peer_tls(tmp_path_factory):
    """
    `peer_tls(box, roles)`: the `webstack:peer_tls` a master's ext_pillar
    hands a container (one fleet CA for the session): the CA, and for a box
    whose `roles` serve peers over TLS, its certificate for its address.
    """
    tmp = tmp_path_factory.mktemp("peer-ca")
    return lambda box, roles: peer_tls_harness.issue(
        str(tmp), box.name, box.ip(), with_settings(load_pillar("minimal"), roles=roles)
    )


@pytest.fixture(scope="session")
def render(tmp_path_factory):
    """
    Compile SLS for an OS and a pillar without touching anything:
    `render("ubuntu-24.04", pillar, "nginx")` returns the high data of that
    SLS (None: the whole highstate) or raises RenderFailed with Salt's errors;
    `test=True` renders it as a dry run (`state.apply test=True`) would.
    """
    # Only the newest Caller is reused: Salt's loader context (__pillar__,
    # __grains__) belongs to the last one made, so an older one would render
    # with another pillar.
    last = {}

    def run(os_name: str, pillar: dict, sls: str | None = None, roles=ALL_ROLES, test=False):
        key = (os_name, yaml.safe_dump(pillar), tuple(roles), test)
        if last.get("key") != key:
            tmp = tmp_path_factory.mktemp("render")
            (tmp / "pillar").mkdir()
            (tmp / "pillar" / "top.sls").write_text("base:\n  '*':\n    - site\n")
            (tmp / "pillar" / "site.sls").write_text(yaml.safe_dump(pillar))
            grains = {**HOST_GRAINS, **OS_GRAINS[os_name], "roles": list(roles)}
            # The test flag as state.apply sets it (show_highstate takes none).
            mopts = {**minion_opts(tmp, grains, tmp / "pillar"), "test": test}
            last.update(key=key, caller=salt.client.Caller(mopts=mopts))
        caller = last["caller"]
        out = caller.cmd("state.show_highstate") if sls is None else caller.cmd("state.show_sls", sls)
        if not isinstance(out, dict):
            raise RenderFailed("\n".join(map(str, out)))
        return out

    return run


class RenderFailed(AssertionError):
    pass


# -- container layer ---------------------------------------------------------


class Boxes:
    """Systemd containers of this test session, on one docker network."""

    def __init__(self):
        self.dc = client()
        self.network = f"wst-{SESSION}"
        self.dc.networks.create(self.network, labels={"webstack": "test"})
        self.started: list[Box] = []

    def start(self, name: str, roles: list[str] | None = None, install_salt: bool = True, **kw) -> Box:
        box = Box.start(
            f"wst-{SESSION}-{name}",
            hostname=name,
            network=self.network,
            labels={"webstack.session": SESSION},
            **kw,
        )
        self.started.append(box)
        if install_salt:
            box.install_salt()  # Salt is in the image: this lays down the repo's minion config
        if roles is not None:
            box.set_roles(roles)
        return box

    def subnet(self) -> str:
        """The session network's address range (e.g. 172.20.0.0/16)."""
        return self.dc.networks.get(self.network).attrs["IPAM"]["Config"][0]["Subnet"]

    def close(self):
        for box in self.started:
            box.remove()
        try:
            self.dc.networks.get(self.network).remove()
        except Exception:  # noqa: BLE001 - best effort on teardown
            pass


@pytest.fixture(scope="session")
def boxes():
    b = Boxes()
    try:
        yield b
    finally:
        b.close()


def converge(box: Box, pillar: dict, states=None):
    """Apply and insist that it worked; the box remembers it (`is_converged_to`)."""
    result = box.apply(pillar, states)
    assert result.ok, result.explain()
    if not is_converged_to(box, pillar, states):
        box.converged = (copy.deepcopy(pillar), states)
    return result


def first_converge(box: Box, pillar: dict, states=None):
    """
    A fresh box's first converge, after a dry run (the README's first step on
    a new server): `box.dry` is that run and `box.dry_problems` what was
    wrong with it (dry_run.problems: a failure, a trace left on the box, a
    change the real run made that it did not foresee), for a test to assert.
    """
    # test/container is on sys.path by now: only container tests converge.
    from dry_run import footprint, problems, touched

    box.write_pillar(pillar)
    before = footprint(box)
    box.dry = box.apply(pillar, states, test=True)
    trace = touched(before, footprint(box))
    result = converge(box, pillar, states)
    box.dry_problems = problems(box.dry, trace, result)
    return result


def _state_names(states):
    if states is None:
        return None  # the highstate
    return frozenset(states.split(",") if isinstance(states, str) else states)


def is_converged_to(box: Box, pillar: dict, states=None) -> bool:
    """
    Whether the box was last converged (`converge`) to `pillar`, with these
    states or more of them (the highstate only counts as the highstate).
    """
    last = getattr(box, "converged", None)
    if last is None or last[0] != pillar:
        return False
    have, want = _state_names(last[1]), _state_names(states)
    return have == want or (have is not None and want is not None and want <= have)


def converged_to(box: Box, pillar: dict, states=None):
    """
    Start a test from `pillar`: converge only when the box was last converged
    to something else. Tests sharing a module box then run in file order
    without repeating converges, and alone (or on an xdist worker) still
    start where they say. Returns the converge's Apply, or None when the box
    was there already.
    """
    if not is_converged_to(box, pillar, states):
        return converge(box, pillar, states)
    return None


def assert_idempotent(box: Box, pillar: dict, states=None):
    """A second apply changes nothing, and test=True predicts nothing."""
    again = box.apply(pillar, states)
    assert again.ok and not again.changed, "second apply changed things:\n" + again.explain()
    dry = box.apply(pillar, states, test=True)
    assert dry.ok and not dry.changed and not dry.pending, "test=True predicts changes:\n" + dry.explain()
    return again


@pytest.fixture(scope="session")
def converge_box():
    return converge


@pytest.fixture(scope="session")
def idempotent():
    return assert_idempotent


# -- the whole single-box stack ----------------------------------------------


def _start_stack(boxes, suite: str) -> Box:
    """The whole single-box stack on `suite`'s image, its logs going to a receiver of its own."""
    # test/container is on sys.path by now: only container tests ask for this.
    from syslog_receiver import start_syslog_receiver

    name = "stack" if suite == SUITES[0] else f"stack-{suite}"
    receiver = start_syslog_receiver(boxes, f"{name}-logs")
    box = boxes.start(name, image=salt_image(suite))
    box.suite, box.hostname = suite, name
    # The scanner and the other peers probe its sshd (ssh-audit, nmap's ssh
    # scripts): fail2ban would ban them, so the session network is allow-listed.
    box.pillar = with_settings(
        load_pillar("demo"),
        logging={"remote": receiver.remote()},
        fail2ban={"ignoreip": [boxes.subnet()]},
    )
    box.receiver = receiver
    box.first = first_converge(box, box.pillar)
    print(f"\n{name} dry run ({suite}): {box.dry.summary()}; converge: {box.first.summary()}")
    return box


@pytest.fixture(scope="session")
def stacks(boxes):
    """
    `stacks(suite)`: the box holding every single-box role (web, worker, db,
    queue, cache: the demo pillar, highstate) on that Debian suite's image
    (dockerbox.SUITES), all converged once per session when one is first asked for,
    shipping its logs over TLS to a receiver box. Shared across test files:
    use it read-only, or put back what you change. `.pillar` is what it was
    converged with, `.receiver` the SyslogReceiver, `.first` the converge's
    Apply (`.dry`, `.dry_problems`: the dry run before it, see
    first_converge), `.suite` its suite, `.hostname` its host name.
    """
    made: dict[str, Box] = {}

    def get(suite: str) -> Box:
        if not made:
            # Every suite's stack at the first ask, side by side: a converge
            # waits mostly on apt and on services starting, so two take little
            # longer than one.
            with concurrent.futures.ThreadPoolExecutor(len(SUITES)) as pool:
                made.update(zip(SUITES, pool.map(lambda s: _start_stack(boxes, s), SUITES), strict=True))
        return made[suite]

    return get


@pytest.fixture(scope="session")
def stack_box(stacks):
    """The whole stack on the default suite (Debian 12): what most files probe."""
    return stacks(SUITES[0])


# -- peers shared by test files ------------------------------------------------


@pytest.fixture(scope="session")
def scanner(boxes):
    """A peer on the session's network, with nmap and OpenSSH's client."""
    box = boxes.start("scanner")
    box.exec(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -qq --no-install-recommends nmap openssh-client >/dev/null"
    )
    return box


@pytest.fixture(scope="session")
def acme_server(boxes):
    """pebble, Let's Encrypt's test ACME server, on the session's network (test/container/acme_server.py)."""
    from acme_server import start_acme_server

    return start_acme_server(boxes)


STACK_DOMAIN = "demo.webstack.test"
BALANCED_DOMAIN = "lb.shop.test"


@pytest.fixture(scope="session")
def acme_balancer(boxes, acme_server):
    """
    A balancer (the balancer state: haproxy) in front of a plain-http nginx
    box (`.web`), its certificate from the ACME server for BALANCED_DOMAIN
    (`.pillar`; `.first`: its first converge).
    """
    # test/container is on sys.path by now: only container tests ask for this.
    from test_nginx import PILLAR, start_nginx_box

    web = start_nginx_box(boxes, "acme-web")
    converge(web, with_settings(PILLAR, project={"domains": [BALANCED_DOMAIN]}), "nginx")
    box = boxes.start("acme-lb", roles=["balancer"])
    acme_server.point([BALANCED_DOMAIN], box.ip())
    box.pillar = with_settings(
        load_pillar("minimal"),
        project={"name": "shop", "domains": [BALANCED_DOMAIN]},
        peers={"web": [web.ip()]},
        balancer={"tls": {"enabled": True, "acme": acme_server.pillar()}},
    )
    box.first = first_converge(box, box.pillar, "balancer")
    box.web = web
    return box
