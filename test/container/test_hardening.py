"""
hardening (kernel and login) on a real box: the kernel parameters a
container can set are in effect and stay so across a restart, the rest are
said in the state's comment (and checked by the render tests); unused
modules can't load; a developer's login shell has umask 027 and no core
dumps; needrestart restarts a service running a deleted binary.

One small box of its own (base, hardening, users, ssh): the tests restart it,
which the shared stack box must not be.
"""

import re
import types

import pytest
from conftest import converge, load_pillar, with_settings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from figures import report

STATES = "base,hardening,users,ssh"
RUNNING = "hardening-kernel-parameters-are-in-effect-where-this-box-may-set-them"
CLIENT = (
    "ssh -T -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
)


def keypair():
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode() + " ada@test"


@pytest.fixture(scope="module")
def site(boxes):
    private, public = keypair()
    pillar = with_settings(load_pillar("minimal"), users={"developers": {"ada": {"ssh_keys": [public]}}})
    box = boxes.start("harden")
    first = converge(box, pillar, STATES)
    box.put_file("/root/ada_key", private, mode=0o600)
    return types.SimpleNamespace(box=box, pillar=pillar, first=first, defaults=load_defaults(box))


def load_defaults(box):
    """The kernel parameters the box was given, as the file it boots with has them."""
    text = box.exec(["cat", "/etc/sysctl.d/60-webstack-hardening.conf"]).stdout
    return dict(line.split(" = ") for line in text.splitlines() if line and not line.startswith("#"))


def cant_set(comment):
    """{parameter: reason} from the state's comment."""
    out = {}
    for reason, keys in re.findall(r"^can't set here \((.+?)\): (.+)$", comment, re.M):
        out.update({k: reason for k in keys.split(", ")})
    return out


def check_kernel(box, wanted, comment):
    """Every parameter is in effect, or the comment says why not, truly. Returns (set, read-only)."""
    listed = cant_set(comment)
    in_effect, readonly = [], []
    for key, value in wanted.items():
        path = "/proc/sys/" + key.replace(".", "/")
        have = box.exec(["cat", path], check=False)
        if key in listed:
            if listed[key] == "not in this kernel":
                assert not have.ok, f"{key} is in this kernel"
            else:
                assert listed[key] == "read-only in this container", (key, listed[key])
                # access(2): EROFS on the read-only /proc/sys a container has.
                assert not box.exec(["test", "-w", path], check=False).ok, f"{key} is writable"
                readonly.append(key)
        else:
            assert have.ok and have.stdout.split() == value.split(), (key, have.stdout, value)
            in_effect.append(key)
    return in_effect, readonly


def test_kernel_parameters_in_effect_or_said_and_after_a_restart(site, request):
    box = site.box
    ret = site.first.by_id[RUNNING]
    assert ret["result"] is True and ret["changes"] == {}, ret
    assert len(site.defaults) >= 30
    in_effect, readonly = check_kernel(box, site.defaults, ret["comment"])
    assert f"{len(in_effect)} of {len(site.defaults)} kernel parameters were as wanted" in ret["comment"]

    box.restart()
    again = box.apply(site.pillar, STATES)
    assert again.ok and not again.changed, again.explain()
    after = check_kernel(box, site.defaults, again.by_id[RUNNING]["comment"])
    assert after == (in_effect, readonly)
    absent = len(site.defaults) - len(in_effect) - len(readonly)
    report(
        request,
        f"hardening: {len(in_effect)} of {len(site.defaults)} sysctls set in the container, "
        f"{len(readonly)} read-only here ({absent} not in this kernel)",
    )


def test_unused_modules_cannot_load(site):
    box = site.box
    conf = box.exec(["cat", "/etc/modprobe.d/webstack-hardening.conf"]).stdout.splitlines()
    for module in ("dccp", "sctp", "rds", "tipc", "cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf"):
        assert f"install {module} /bin/false" in conf and f"blacklist {module}" in conf
    # kmod (a real server's, not in the test image) reads them as we mean.
    box.exec("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kmod >/dev/null")
    parsed = box.exec(["modprobe", "--showconfig"]).stdout.splitlines()
    assert "install sctp /bin/false" in parsed and "blacklist udf" in parsed


def login(box, script):
    """A developer's ssh login (a login shell: no command, the script on stdin): its `result` line."""
    cmd = f"echo {script!r} | {CLIENT} -i /root/ada_key ada@127.0.0.1"
    out = box.exec(["sh", "-c", cmd]).stdout
    return next(line.split()[1:] for line in out.splitlines() if line.startswith("result ")), out


def test_a_developers_ssh_login_has_umask_027_and_no_core_dumps(site):
    box = site.box
    got, out = login(
        box, "rm -f ~/p; touch ~/p; echo result $(umask) $(stat -c %a ~/p) $(ulimit -Hc) $(ulimit -Sc)"
    )
    assert got == ["0027", "640", "0", "0"], out
    assert box.exec(["su", "-", "ada", "-c", "umask; ulimit -Hc"]).stdout.split() == ["0027", "0"]
    # Root keeps 022: an operator's Salt run writes files as our states expect.
    assert box.exec(["su", "-", "root", "-c", "umask"]).stdout.strip() == "0022"
    assert re.search(r"^UMASK\s+027$", box.exec(["cat", "/etc/login.defs"]).stdout, re.M)
    coredump = box.exec(["cat", "/etc/systemd/coredump.conf.d/webstack-hardening.conf"]).stdout
    assert "Storage=none" in coredump and "ProcessSizeMax=0" in coredump


def test_needrestart_restarts_a_service_running_a_deleted_binary(site):
    box = site.box
    # needrestart reads our snippet as it reads its own configuration.
    read = box.exec(
        [
            "perl",
            "-e",
            'our %nrconf; our $LOGPREF = ""; do "/etc/needrestart/needrestart.conf"; '
            "die $@ if $@; print $nrconf{restart}",
        ]
    )
    assert read.stdout == "a"
    assert "DPkg::Post-Invoke" in box.exec(["cat", "/etc/apt/apt.conf.d/99needrestart"]).stdout
    # A service whose binary is replaced (an upgrade's new inode) still runs the deleted one.
    box.exec("install -m 755 /bin/sleep /usr/local/sbin/webstack-nr-probe")
    box.put_file(
        "/etc/systemd/system/webstack-nr-probe.service",
        "[Service]\nExecStart=/usr/local/sbin/webstack-nr-probe infinity\n",
    )
    box.exec("systemctl daemon-reload && systemctl start webstack-nr-probe")
    before = box.exec("systemctl show -p MainPID --value webstack-nr-probe").stdout.strip()
    box.exec(
        "install -m 755 /bin/sleep /usr/local/sbin/webstack-nr-probe.new && "
        "mv /usr/local/sbin/webstack-nr-probe.new /usr/local/sbin/webstack-nr-probe"
    )
    try:
        out = box.exec("needrestart -b", check=False).stdout
        assert "NEEDRESTART-SVC: webstack-nr-probe.service" in out, out
        box.exec("needrestart -q", check=False)  # as its apt hook runs it, with our config
        after = box.exec("systemctl show -p MainPID --value webstack-nr-probe").stdout.strip()
        assert after not in ("0", before), (before, after)
    finally:
        box.exec(
            "systemctl stop webstack-nr-probe; rm -f /etc/systemd/system/webstack-nr-probe.service",
            check=False,
        )
        box.exec("systemctl daemon-reload", check=False)


def test_hardening_is_idempotent(site, idempotent):
    idempotent(site.box, site.pillar, STATES)
