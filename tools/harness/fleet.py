"""
`make fleet`: a salt-master and six minions on a docker network of their
own, converged through the master the way a real fleet is.

  master    salt-master serving this repository, pillar from salt/pillar/fleet
  balancer  haproxy in front of web1 and web2         (roles grain: balancer)
  web1 web2 the app behind nginx                      (web)
  worker    the celery worker                         (worker)
  db        postgresql, rabbitmq and the cache        (db, queue, cache)
  replica   a hot standby of db's PostgreSQL          (db_replica)

Keys are made here and placed on both sides (nothing to accept), each
minion's `roles` grain is set before it first starts, and the mine is filled
before the first highstate: every minion's first run already sees its peers.
The first converge goes in two waves: the data tier and the balancer, then
the app hosts (their first releases migrate the database one at a time,
under a PostgreSQL advisory lock: see _modules/release.py) and the replica
(built from the primary, through the slot the primary made for it).
Run again, it reuses the running fleet and re-applies everything with one
`salt '*' state.apply`. Exit status 1 when any minion failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import shlex
import sys
import time
from collections.abc import Callable

import docker.errors
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tools.harness.dockerbox import MOUNT, REPO, SALT_IMAGE, Apply, Box, client

PREFIX = "webstack-fleet"
# Minion id -> fleet roles (its `roles` grain).
MINIONS = {
    "balancer": ["balancer"],
    "web1": ["web"],
    "web2": ["web"],
    "worker": ["worker"],
    "db": ["db", "queue", "cache"],
    "replica": ["db_replica"],
}
# The master's name on the fleet network: Salt's default `master`.
MASTER = "salt"
# Roles whose hosts others need up before their own first highstate.
FIRST_WAVE_ROLES = ("db", "queue", "cache", "balancer")
PILLARENV = "fleet"
# Seconds one state.apply may take before its minions count as not returned.
APPLY_DEADLINE = 3600
# Seconds any other salt command may take.
CALL_DEADLINE = 300
CONVERGED_MARK = "/var/lib/webstack-fleet-converged"
KEY_BITS = 2048
# The master's view of this fleet: the demo's pillar tree is replaced by the
# fleet example (salt/pillar/fleet, targeted by minion id).
MASTER_DROPIN = f"""\
# Written by tools/harness/fleet.py: the fleet example's pillar tree.
pillar_roots:
  {PILLARENV}:
    - {MOUNT}/salt/pillar/fleet
pillarenv: {PILLARENV}
"""


class FleetError(RuntimeError):
    pass


def gen_keys() -> tuple[str, str]:
    """An RSA key pair as Salt writes them (what `salt-key --gen-keys` makes): private, public PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def parse_returns(lines: list[str]) -> dict:
    """Minion id -> return, from `salt --out=json --out-indent=-1` (one JSON object a line)."""
    out = {}
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            out.update(json.loads(line))
        except ValueError:
            continue
    return out


def minion_apply(ret, wall: float) -> Apply:
    """One minion's state.apply return as an Apply (as `salt-call` would give it)."""
    if isinstance(ret, dict) and ret and all(isinstance(v, dict) and "result" in v for v in ret.values()):
        failed = any(v["result"] is False for v in ret.values())
        return Apply(1 if failed else 0, wall, ret, [], "")
    if isinstance(ret, list):
        return Apply(1, wall, {}, [str(e) for e in ret], "")
    return Apply(1, wall, {}, [str(ret) if ret not in (None, {}) else "no state ran (empty return)"], "")


def waves(minions: dict[str, list[str]]) -> list[list[str]]:
    """
    The first converge's order: the hosts others need up (data tier,
    balancer), then the rest, whose releases find their database there.
    """
    first = [m for m, roles in minions.items() if set(roles) & set(FIRST_WAVE_ROLES)]
    rest = [m for m in minions if m not in first]
    return [w for w in (first, rest) if w]


def row(minion: str, result: Apply) -> str:
    """One line of the per-minion table."""
    if result.errors:
        return f"{minion:<10} FAILED: no state ran ({result.wall:6.1f} s)\n    " + "\n    ".join(
            e[:400] for e in result.errors
        )
    n, changed, failed = len(result.states), len(result.changed), len(result.failed)
    ok = sum(1 for r in result.states.values() if r["result"] is not False and not r.get("changes"))
    line = (
        f"{minion:<10} {n:4d} states: {ok:4d} ok, {changed:4d} changed, "
        f"{failed:3d} failed  {result.wall:6.1f} s"
    )
    for sid, comment in result.failed:
        line += f"\n    FAILED {sid}: {str(comment)[:400]}"
    return line


class Fleet:
    """The master and minion containers of one fleet, on one docker network."""

    def __init__(
        self,
        prefix: str = PREFIX,
        minions: dict | None = None,
        image: str = SALT_IMAGE,
        images: dict | None = None,
    ):
        self.prefix = prefix
        self.network = prefix
        self.minions = dict(minions or MINIONS)
        self.image = image
        # Hosts on another release than `image` (host -> image).
        self.images = dict(images or {})
        self.boxes: dict[str, Box] = {}

    # -- containers -------------------------------------------------------

    def container_name(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def master(self) -> Box:
        return self.boxes[MASTER]

    def box(self, minion: str) -> Box:
        return self.boxes[minion]

    def _ensure_network(self) -> None:
        dc = client()
        if not dc.networks.list(names=[self.network]):
            dc.networks.create(self.network, labels={"webstack": "fleet"})

    def _box(self, host: str) -> Box:
        """The running container of `host`, reused when it runs our image, else (re)made."""
        name, image = self.container_name(host), self.images.get(host, self.image)
        try:
            existing = client().containers.get(name)
            if existing.status == "running" and image in existing.image.tags:
                return Box(existing)
        except docker.errors.NotFound:
            pass
        endpoint = client().api.create_endpoint_config(aliases=[host])
        return Box.start(
            name,
            image=image,
            network=self.network,
            hostname=host,
            labels={"webstack.fleet": self.prefix},
            networking_config={self.network: endpoint},
        )

    def up(self) -> None:
        """Containers, Salt configured on each, keys placed, every minion answering, mine filled."""
        self._ensure_network()
        hosts = [MASTER, *self.minions]
        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            for host, box in zip(hosts, pool.map(self._box, hosts), strict=True):
                self.boxes[host] = box
        keys = self._keys()
        self._configure_master(keys)
        with concurrent.futures.ThreadPoolExecutor(len(self.minions)) as pool:
            list(pool.map(lambda m: self._configure_minion(m, keys), self.minions))
        self.wait_for_minions()
        # Our modules on every minion (a highstate syncs them too), for
        # `salt web1 webstack.peers db` and the like.
        synced = self.salt("*", "saltutil.sync_all")
        if sorted(m for m, ret in synced.items() if isinstance(ret, dict)) != sorted(self.minions):
            raise FleetError(f"saltutil.sync_all did not succeed everywhere: {synced}")
        # The mine before any highstate: peers() finds every role on the first run.
        updated = self.salt("*", "mine.update")
        if sorted(m for m, ok in updated.items() if ok is True) != sorted(self.minions):
            raise FleetError(f"mine.update did not succeed everywhere: {updated}")

    def down(self) -> None:
        dc = client()
        for container in dc.containers.list(all=True, filters={"label": f"webstack.fleet={self.prefix}"}):
            container.remove(force=True)
        for net in dc.networks.list(names=[self.network]):
            net.remove()

    # -- Salt set-up ------------------------------------------------------

    def _keys(self) -> dict[str, tuple[str, str]]:
        """(private, public) PEM of the master and each minion: those already on the boxes, else new."""
        keys = {}
        for host, path in [
            (MASTER, "/etc/salt/pki/master/master"),
            *((m, "/etc/salt/pki/minion/minion") for m in self.minions),
        ]:
            box = self.boxes[host]
            priv, pub = (box.exec(["cat", f"{path}.{ext}"], check=False) for ext in ("pem", "pub"))
            keys[host] = (priv.stdout, pub.stdout) if priv.ok and pub.ok else gen_keys()
        return keys

    @staticmethod
    def _ensure_file(box: Box, path: str, content: str, mode: int = 0o644) -> bool:
        """Write `content` unless it is already there; True when it changed."""
        have = box.exec(["cat", path], check=False)
        if have.ok and have.stdout == content:
            return False
        box.put_file(path, content, mode=mode)
        return True

    def _configure_master(self, keys) -> None:
        box = self.master
        box.exec(["sh", f"{MOUNT}/tools/server/install-salt.sh"])
        changed = self._ensure_file(
            box,
            "/etc/salt/master.d/webstack.conf",
            (REPO / "etc/salt/master.d/webstack.conf").read_text(),
        )
        changed |= self._ensure_file(box, "/etc/salt/master.d/fleet.conf", MASTER_DROPIN)
        priv, pub = keys[MASTER]
        changed |= self._ensure_file(box, "/etc/salt/pki/master/master.pem", priv, 0o400)
        changed |= self._ensure_file(box, "/etc/salt/pki/master/master.pub", pub)
        # Accepted keys: exactly this fleet's minions.
        for minion in self.minions:
            changed |= self._ensure_file(box, f"/etc/salt/pki/master/minions/{minion}", keys[minion][1])
        box.exec("systemctl enable -q salt-master")
        box.exec("systemctl restart salt-master" if changed else "systemctl start salt-master")

    def _configure_minion(self, minion: str, keys) -> None:
        box = self.boxes[minion]
        box.exec(["sh", f"{MOUNT}/tools/server/install-salt.sh"], env={"SALT_MASTER": MASTER})
        changed = self._ensure_file(box, "/etc/salt/minion_id", minion)
        changed |= self._ensure_file(box, "/etc/salt/grains", yaml.safe_dump({"roles": self.minions[minion]}))
        priv, pub = keys[minion]
        changed |= self._ensure_file(box, "/etc/salt/pki/minion/minion.pem", priv, 0o400)
        changed |= self._ensure_file(box, "/etc/salt/pki/minion/minion.pub", pub)
        # The master's key pinned from the start, as if accepted on first contact.
        changed |= self._ensure_file(box, "/etc/salt/pki/minion/minion_master.pub", keys[MASTER][1])
        box.exec("systemctl enable -q salt-minion")
        box.exec("systemctl restart salt-minion" if changed else "systemctl start salt-minion")

    def wait_for_minions(self, timeout: float = 180, nudge_after: float = 60) -> None:
        """
        Every minion answers a test.ping. One still silent after `nudge_after`
        seconds gets its salt-minion restarted, once (on a loaded host a
        minion has been seen to stay silent, as after a missed first contact
        with a master still starting); when one stays silent, the error holds
        its and the master's service status and journal.
        """
        t0 = time.monotonic()
        missing, nudged = sorted(self.minions), []
        while time.monotonic() - t0 < timeout:
            answers = self.salt("*", "test.ping", timeout=5, check=False)
            missing = sorted(m for m in self.minions if answers.get(m) is not True)
            if not missing:
                return
            if not nudged and time.monotonic() - t0 > nudge_after:
                nudged = missing
                print(f"    no answer from {', '.join(missing)}: restarting their salt-minion", flush=True)
                for minion in missing:
                    self.boxes[minion].exec("systemctl restart --no-block salt-minion", check=False)
            time.sleep(1)
        why = [self._service_report(MASTER, "salt-master")]
        why += [self._service_report(m, "salt-minion") for m in missing]
        raise FleetError(
            f"minions not answering the master after {timeout:.0f} s: {', '.join(missing)}"
            + (f" (restarted once: {', '.join(nudged)})" if nudged else "")
            + "\n"
            + "\n".join(why)
        )

    def _service_report(self, host: str, unit: str) -> str:
        show = f"systemctl status --no-pager --lines=0 {unit}; journalctl --no-pager -n 25 -u {unit}"
        res = self.boxes[host].exec(show, check=False)
        return f"--- {host}: {unit}\n{res.stdout}{res.stderr}"

    # -- running Salt on the master --------------------------------------

    def salt(self, target: str, fun: str, *args: str, timeout: int | None = None, check: bool = True) -> dict:
        """`salt <target> <fun> <args>` on the master: minion id -> return."""
        cmd = ["timeout", str(CALL_DEADLINE), "salt", "--out=json", "--out-indent=-1", "--static"]
        if timeout:
            cmd.append(f"--timeout={timeout}")
        res = self.master.exec([*cmd, target, fun, *args], check=False)
        returns = parse_returns(res.stdout.splitlines())
        if check and not returns:
            raise FleetError(f"salt {target} {fun}: no answer (rc {res.rc})\n{res.stdout}\n{res.stderr}")
        return returns

    def apply(
        self,
        minions: list[str] | None = None,
        test: bool = False,
        on_return: Callable[[str, Apply], None] | None = None,
        deadline: int = APPLY_DEADLINE,
    ) -> dict[str, Apply]:
        """
        state.apply (highstate) on `minions` (None: all) through the master,
        each minion's result timed from the start until it returned.
        """
        minions = list(self.minions) if minions is None else minions
        target = "*" if sorted(minions) == sorted(self.minions) else ",".join(minions)
        salt_cmd = ["salt", "--out=json", "--out-indent=-1", *([] if target == "*" else ["--list"])]
        salt_cmd += [target, "state.apply", *(["test=True"] if test else [])]
        # The CLI has been seen to linger long after the last minion returned:
        # we stop reading once every minion has, and end it by its pid.
        script = f'echo "pid $$"; exec timeout {deadline} {shlex.join(salt_cmd)}'
        api = self.master.container.client.api
        # Unbuffered: each return is printed (and timed) as it arrives.
        exec_id = api.exec_create(
            self.master.container.id, ["sh", "-c", script], environment=["PYTHONUNBUFFERED=1"]
        )["Id"]
        results: dict[str, Apply] = {}
        pid, pending = None, ""
        t0 = time.monotonic()

        def returned(lines):
            for minion, ret in parse_returns(lines).items():
                results[minion] = minion_apply(ret, time.monotonic() - t0)
                if on_return:
                    on_return(minion, results[minion])

        stream = api.exec_start(exec_id, stream=True, demux=True)
        for stdout, _ in stream:
            if not stdout:
                continue
            pending += stdout.decode(errors="replace")
            *lines, pending = pending.split("\n")
            if pid is None and lines and lines[0].startswith("pid "):
                pid = int(lines.pop(0).split()[1])
            returned(lines)
            if set(minions) <= set(results):
                break
        stream.close()
        returned([pending])
        if pid and api.exec_inspect(exec_id)["Running"]:
            self.master.exec(["kill", str(pid)], check=False)
        for minion in minions:
            if minion not in results:
                results[minion] = Apply(1, time.monotonic() - t0, {}, ["did not return"], "")
                if on_return:
                    on_return(minion, results[minion])
        return results

    def converge(self, log: Callable[[str], None] = print, first: bool | None = None) -> dict[str, Apply]:
        """
        Highstate everywhere: in waves the first time (or when `first`), else
        all at once. Returns each minion's result.
        """
        if first is None:
            first = not self.converged()
        plan = waves(self.minions) if first else [list(self.minions)]
        results: dict[str, Apply] = {}
        for n, wave in enumerate(plan, 1):
            label = f"wave {n}/{len(plan)}: " if len(plan) > 1 else ""
            log(f"==> {label}salt {'*' if len(plan) == 1 else ','.join(wave)} state.apply")
            t0 = time.monotonic()
            results.update(self.apply(wave, on_return=lambda m, r: log("    " + row(m, r))))
            log(f"    done in {time.monotonic() - t0:.1f} s")
            if any(not results[m].ok for m in wave):
                break
        return results

    def converged(self) -> bool:
        """Whether this fleet has converged before (a mark on the master)."""
        return self.master.exec(["test", "-e", CONVERGED_MARK], check=False).ok

    def mark_converged(self) -> None:
        self.master.exec(["touch", CONVERGED_MARK])

    def ip(self, host: str) -> str:
        return self.boxes[host].ip(self.network)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--down", action="store_true", help="remove the fleet's containers and network")
    args = parser.parse_args()
    fleet = Fleet()
    if args.down:
        fleet.down()
        print(f"removed the fleet {PREFIX}")
        return 0

    t_all = time.monotonic()
    print(f"==> master and {len(fleet.minions)} minions on network {fleet.network}", flush=True)
    t0 = time.monotonic()
    try:
        fleet.up()
    except FleetError as exc:
        print(f"==> FAILED: {exc}")
        return 1
    print(f"    all minions answer the master; mine filled ({time.monotonic() - t0:.1f} s)", flush=True)
    results = fleet.converge(log=lambda line: print(line, flush=True))
    failed = sorted(m for m, r in results.items() if not r.ok)
    print(f"==> total {time.monotonic() - t_all:.1f} s")
    if failed or len(results) < len(fleet.minions):
        print(f"==> FAILED on {', '.join(failed) or 'none'}; the fleet is left running to look at.")
        return 1
    fleet.mark_converged()
    domains = yaml.safe_load((REPO / "salt/pillar/fleet/common.sls").read_text())["webstack"]["project"][
        "domains"
    ]
    master, lb = fleet.container_name(MASTER), fleet.ip("balancer")
    print(
        f"""
The fleet is running (docker network {fleet.network}). Try:
  curl -k --resolve {domains[0]}:443:{lb} https://{domains[0]}/
  curl -s -H 'Host: unknown.example' http://{lb}/   # unknown host: connection closed
  docker exec -it {master} salt '*' test.ping
  docker exec -it {master} salt web1 webstack.peers db
  make fleet                     # re-apply everywhere: expect 0 changed
  .venv/bin/python -m tools.harness.fleet --down   # remove the fleet"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
