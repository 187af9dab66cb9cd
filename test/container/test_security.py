"""
The attack surface of the whole single-box stack (conftest's `stack_box`,
the demo pillar), seen as an attacker on the same network sees it, from a
peer container (nmap, raw HTTP), and from inside the box:

- a full TCP scan finds exactly the ports the firewall role declares, every
  other one dropped; and nothing but those listens beyond loopback, so the
  data services stay unreachable even with the firewall off;
- TLS (nginx on the stack box, haproxy on a balancer box with a certificate
  from the ACME server) offers TLS 1.2 and 1.3 only, forward-secret AEAD
  suites only;
- every answer carries HSTS, nosniff, a framing policy and a referrer
  policy, once each; nothing names nginx's version;
- ssh offers public keys only, root included;
- the app runs as the project user; a listener runs as root only where it
  must (sshd, nginx's master, systemd's socket activation);
- no secret of the pillar reaches a file anyone may read, a command line,
  Salt's output, a log file, the journal or the log receiver.

What the role tests prove on boxes of their own is not repeated (the README's
"Guarantees" table names them): PostgreSQL's listed peers and SCRAM only
(test_postgresql.py), RabbitMQ without guest (test_rabbitmq.py, and
test_stack.py on this box), root and passwords refused by sshd
(test_users_ssh.py), the env file's mode (test_app.py).
"""

from __future__ import annotations

import json
import re
import shlex
import time
import xml.etree.ElementTree as ET

import pytest
from box_helpers import copy_helper, helper
from conftest import STACK_DOMAIN
from figures import report

from tools.harness.dockerbox import SUITES, TEST_PILLAR_ROOT

NAME = "demo"
DOMAIN = STACK_DOMAIN
LOOPBACK = re.compile(r"^(127\.|\[::1\]|::1$)")

# -- the boxes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(stack_box):
    return stack_box


@pytest.fixture(scope="module")
def balancer(acme_balancer):
    return acme_balancer


def nmap(scanner, *args: str) -> ET.Element:
    return ET.fromstring(scanner.exec(["nmap", "-Pn", "-n", "-oX", "-", *args]).stdout)


def parse_response(text: str) -> tuple[int, dict, str]:
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


def ask(scanner, box, request: str, port: int = 443) -> tuple[int, dict, str]:
    """(status, {header: [values]}, body) of one raw HTTP/1.1 request (\\n line ends) from the scanner."""
    scanner.put_file("/tmp/request.http", request)
    tls = int(port == 443)
    out = scanner.exec(
        ["sh", "-c", f"python3 {helper('raw_http.py')} {box.ip()} {port} {tls} {DOMAIN} </tmp/request.http"]
    )
    return parse_response(out.stdout)


def declared_ports(box) -> set[int]:
    """The TCP ports the firewall role opens on this box (ufw.rules_for, the state's own plan)."""
    out = box.salt_call("--out=json", "ufw.rules_for", pillar_root=TEST_PILLAR_ROOT, check=True).stdout
    return {int(rule["port"]) for rule in json.loads(out)["local"] if rule["proto"] == "tcp"}


def listeners(box, proto: str = "t") -> list[tuple[str, int, str]]:
    """(address, port, users-column) of every listening socket (`ss -l<proto>np`)."""
    found = []
    for line in box.exec(["ss", "-Hl" + proto + "np"]).stdout.splitlines():
        words = line.split()
        address, _, port = words[3].rpartition(":")
        found.append((address, int(port), " ".join(words[5:])))
    return found


# -- ports ---------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_the_firewall_plan_what_listens_and_a_full_scan_from_a_peer_agree(suite, stacks, scanner, request):
    stack = stacks(suite)
    declared = declared_ports(stack)
    assert declared == {22, 80, 443}, "the demo's single box serves ssh, http and https"
    # Beyond loopback nothing else even listens: the data services stay out of
    # reach with the firewall off too (test_stack.py checks the same list).
    tcp = listeners(stack)
    wide = {port for address, port, _ in tcp if not LOOPBACK.match(address)}
    local = sorted({port for address, port, users in tcp if LOOPBACK.match(address) and users})
    assert wide == declared, tcp
    assert [(a, p) for a, p, _ in listeners(stack, "u") if not LOOPBACK.match(a)] == []
    t0 = time.monotonic()
    scan = nmap(scanner, "-sS", "-p-", "-T4", "--max-retries", "1", "--min-rate", "20000", stack.ip())
    seconds = time.monotonic() - t0
    ports = {
        int(p.get("portid")): p.find("state").get("state")
        for p in scan.iter("port")
        if p.get("protocol") == "tcp"
    }
    others = {e.get("state"): int(e.get("count")) for e in scan.iter("extraports")}
    report(
        request,
        f"full TCP scan of the {suite} stack box from a peer ({seconds:.0f} s): open {sorted(ports)}, "
        f"other ports {others}; listening on loopback only: {local}",
    )
    assert {p for p, state in ports.items() if state == "open"} == declared
    # Every other port dropped by the firewall: no answer at all, not even a refusal.
    assert set(ports.values()) == {"open"} and others == {"filtered": 65535 - len(declared)}, (ports, others)
    assert {5432, 5672, 4369, 25672, 11211, 6379} <= set(local)


# -- TLS ------------------------------------------------------------------------------------

STRONG = re.compile(
    r"^TLS_(AKE|ECDHE_(ECDSA|RSA))_WITH_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$"
)


def tls_offered(scanner, box, domain: str = DOMAIN) -> tuple[dict, str]:
    """nmap's ssl-enum-ciphers from the scanner: ({protocol: [(suite, strength)]}, least strength)."""
    scan = nmap(
        scanner,
        "-p",
        "443",
        "--script",
        "ssl-enum-ciphers",
        "--script-args",
        f"tls.servername={domain}",
        box.ip(),
    )
    script = next(s for s in scan.iter("script") if s.get("id") == "ssl-enum-ciphers")
    offered = {}
    for table in script.findall("table"):
        ciphers = table.find("table[@key='ciphers']")
        offered[table.get("key")] = [
            (c.findtext("elem[@key='name']"), c.findtext("elem[@key='strength']"))
            for c in ciphers.findall("table")
        ]
    return offered, script.findtext("elem[@key='least strength']")


def assert_strong_tls_only(offered: dict, least: str) -> None:
    assert set(offered) == {"TLSv1.2", "TLSv1.3"}, offered  # no SSLv3, TLS 1.0 or 1.1
    for proto, suites in offered.items():
        for name, strength in suites:
            # No RC4, 3DES, CBC, NULL, EXPORT or anonymous suite: ECDHE and AEAD only.
            assert STRONG.match(name) and strength == "A", (proto, name, strength)
    assert least == "A"


@pytest.mark.parametrize("target", [*SUITES, "balancer"])
def test_tls_offers_only_1_2_and_1_3_with_forward_secret_aead_suites(target, stacks, scanner, request):
    box = request.getfixturevalue(target) if target == "balancer" else stacks(target)
    offered, least = tls_offered(scanner, box)
    report(
        request,
        f"TLS of the {target} ({'haproxy, ACME certificate' if target == 'balancer' else 'nginx'}): "
        + "; ".join(
            f"{proto}: {', '.join(n for n, _ in suites)}" for proto, suites in sorted(offered.items())
        )
        + f"; least strength {least}",
    )
    assert_strong_tls_only(offered, least)


# -- HTTP answers --------------------------------------------------------------------------


def site_requests(scanner, stack) -> dict[str, str]:
    """Requests for the app, a static file, both 404s and nginx's own errors (400, 413)."""
    get = "GET {path} HTTP/1.1\nHost: " + DOMAIN + "\nConnection: close\n\n"
    css = re.search(r'href="(/static/[^"]+\.css)"', ask(scanner, stack, get.format(path="/"))[2]).group(1)
    return {
        "app page": get.format(path="/"),
        "app 404": get.format(path="/no-such-page/"),
        "static file": get.format(path=css),
        "static 404": get.format(path="/static/no-such-file.css"),
        "bad request 400": f"GET / HTTP/1.1\nHost: {DOMAIN}\nContent-Length: x\n\n",
        "too large 413": f"POST /tasks/ HTTP/1.1\nHost: {DOMAIN}\nContent-Length: 50000000\n\n",
    }


SECURITY_HEADERS = {
    "strict-transport-security": re.compile(r"^max-age=(\d+)"),
    "x-content-type-options": re.compile(r"^nosniff$"),
    "x-frame-options": re.compile(r"^(DENY|SAMEORIGIN)$"),
    "referrer-policy": re.compile(
        r"^(no-referrer|same-origin|strict-origin|strict-origin-when-cross-origin)$"
    ),
}


def test_every_answer_carries_the_security_headers_once_and_no_version(stack, scanner, request):
    seen = {}
    for what, raw in site_requests(scanner, stack).items():
        status, headers, body = ask(scanner, stack, raw)
        seen[what] = status
        for name, pattern in SECURITY_HEADERS.items():
            values = headers.get(name, [])
            assert len(values) == 1 and pattern.match(values[0]), (what, status, name, values)
        assert (
            int(
                SECURITY_HEADERS["strict-transport-security"].match(headers["strict-transport-security"][0])[
                    1
                ]
            )
            >= 31536000
        )
        assert headers["server"] == ["nginx"], (what, headers["server"])
        assert not re.search(r"nginx/\d", body), (what, body)
    # Plain http: the redirect names no version either.
    status, headers, body = ask(
        scanner, stack, f"GET / HTTP/1.1\nHost: {DOMAIN}\nConnection: close\n\n", port=80
    )
    seen["http redirect"] = status
    assert status == 301 and headers["server"] == ["nginx"] and "nginx/" not in body
    report(request, f"security headers once each, Server: nginx without a version, on: {seen}")
    assert seen == {
        "app page": 200,
        "app 404": 404,
        "static file": 200,
        "static 404": 404,
        "bad request 400": 400,
        "too large 413": 413,
        "http redirect": 301,
    }


# -- ssh ------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["root", "dev"])
def test_ssh_offers_public_key_authentication_only(stack, scanner, user):
    # OpenSSH's client: nmap's ssh-auth-methods (libssh2 1.10) knows none of
    # the MACs a hardened sshd offers.
    probe = scanner.exec(
        ["ssh", "-v", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=none", "-o", "ConnectTimeout=10"]
        + ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        + [f"{user}@{stack.ip()}", "true"],
        check=False,
    )
    offered = re.findall(r"Authentications that can continue: (\S+)", probe.stderr)
    assert probe.rc != 0 and offered == ["publickey"], probe.stderr


# -- processes -------------------------------------------------------------------------------


def processes(box) -> dict[int, tuple[int, str, str]]:
    """pid -> (ppid, user, command name)."""
    out = box.exec("ps -e -o pid=,ppid=,user:20=,comm=").stdout
    return {
        int(p): (int(pp), user, comm)
        for p, pp, user, comm in (line.split(None, 3) for line in out.splitlines())
    }


def test_the_app_runs_as_the_project_user_and_only_sshd_and_nginx_listen_as_root(stack, request):
    procs = processes(stack)
    supervisord = int(stack.exec(["systemctl", "show", "-p", "MainPID", "--value", "supervisor"]).stdout)

    def descends(pid):
        while pid > 1:
            if pid == supervisord:
                return True
            pid = procs.get(pid, (1,))[0]
        return False

    app = {pid: user for pid, (_, user, _) in procs.items() if pid != supervisord and descends(pid)}
    assert len(app) >= 3 and set(app.values()) == {NAME}, app
    # Who answers on each listening socket.
    owners = {}
    for _, port, users in listeners(stack):
        for comm, pid in re.findall(r'\("([^"]+)",pid=(\d+)', users):
            owners.setdefault(port, set()).add((comm, procs[int(pid)][1]))
    root = {(port, comm) for port, found in owners.items() for comm, user in found if user == "root"}
    report(
        request,
        f"{len(app)} app processes, all as {NAME!r}; listeners: "
        + ", ".join(f"{port} {sorted({u for _, u in found})}" for port, found in sorted(owners.items())),
    )
    assert {comm for _, comm in root} <= {"sshd", "nginx", "systemd"}, root
    # nginx's master holds 80/443 as root; every worker, which handles requests, is www-data.
    workers = {
        user
        for _, (ppid, user, comm) in procs.items()
        if comm == "nginx" and procs.get(ppid, (0, "", ""))[2] == "nginx"
    }
    assert workers == {"www-data"}, workers


# -- secrets ----------------------------------------------------------------------------------


def secrets_of(pillar) -> list[str]:
    ws = pillar["webstack"]
    secrets = [ws["postgresql"]["password"], ws["rabbitmq"]["password"], *ws["app"]["secrets"].values()]
    return secrets + [ws["backup"]["passphrase"]] if ws.get("backup", {}).get("enabled") else secrets


@pytest.fixture(scope="module")
def salt_runs(stack):
    """A re-apply and a test=True run of the stack, with every process's command line
    sampled meanwhile by `nobody` (what any local user can see)."""
    copy_helper(stack, "cmdlines.py", "/tmp/cmdlines.py")  # where nobody may read it
    stack.exec("rm -f /tmp/cmdlines.stop /tmp/cmdlines.txt")
    sampler = "runuser -u nobody -- python3 /tmp/cmdlines.py /tmp/cmdlines.stop /tmp/cmdlines.txt"
    stack.exec(f"nohup {sampler} >/dev/null 2>&1 &")
    again = stack.apply(stack.pillar)
    dry = stack.apply(stack.pillar, test=True)
    stack.exec("touch /tmp/cmdlines.stop")
    deadline = time.monotonic() + 10
    while stack.exec(["test", "-s", "/tmp/cmdlines.txt"], check=False).rc != 0:
        assert time.monotonic() < deadline, "the command line sampler did not report"
        time.sleep(0.2)
    cmdlines = stack.exec(["cat", "/tmp/cmdlines.txt"]).stdout
    assert again.ok and not again.changed, again.explain()
    assert dry.ok and not dry.pending, dry.explain()
    return again, dry, cmdlines


def test_secrets_never_reach_a_command_line_salt_output_a_log_or_the_receiver(stack, salt_runs, request):
    secrets = secrets_of(stack.pillar)
    again, dry, cmdlines = salt_runs
    where = {
        "salt output (first apply, re-apply, test=True)": "\n".join(
            json.dumps(run.states) + run.stderr for run in (stack.first, again, dry)
        ),
        "command lines during the runs": cmdlines,
        "/var/log files": stack.exec(
            "find /var/log -path /var/log/journal -prune -o -type f -print0 | xargs -0 cat", check=False
        ).stdout,
        "the journal (every field)": stack.exec("journalctl -o export --no-pager | tr -d '\\000'").stdout,
        "the log receiver": "\n".join(stack.receiver.lines()),
    }
    sizes = {k: len(v) for k, v in where.items()}
    report(request, f"{len(secrets)} secret values searched in {sizes} characters: none found")
    for place, text in where.items():
        for secret in secrets:
            assert secret not in text, f"a secret of the pillar in {place}"
    # The places searched did hold what matters: the runs' rabbitmqctl login check
    # (it reads the password on stdin), the app's log lines, Salt's own log.
    assert "rabbitmqctl authenticate_user demo" in cmdlines
    assert f"{NAME}-gunicorn" in where["the journal (every field)"] and " stack " in where["the log receiver"]


def test_files_holding_secrets_are_not_world_readable(stack, request):
    secrets = secrets_of(stack.pillar)
    pattern = " ".join(f"-e {shlex.quote(s)}" for s in secrets)
    # Every file of the box (the repository's mount, /proc and /sys are other file systems).
    holders = stack.exec(
        f"find / /run /dev/shm -xdev -type f -print0 2>/dev/null | xargs -0 grep -lF {pattern} 2>/dev/null",
        check=False,
    ).stdout.split()
    modes = {
        path: stack.exec(["stat", "-c", "%a %U:%G", path]).stdout.strip() for path in sorted(set(holders))
    }
    report(request, f"files holding a secret: {modes}")
    assert f"/srv/{NAME}/env" in modes
    for path, mode in modes.items():
        assert int(mode.split()[0], 8) & 0o007 == 0, f"{path} is {mode}: others may read it"
