"""The hardening SLS compiled for our releases: the sysctl, modprobe, limits,
umask and needrestart files for several pillars, including the kernel
parameters a container can't set (so the container test can't check them in
the running kernel), and the pillars the schema turns away."""

import jinja2
import pytest
from conftest import OS_GRAINS, REPO, load_pillar, with_settings

FILES = REPO / "salt" / "states" / "hardening" / "files"
SYSCTL = "hardening-kernel-parameters-are-set-for-every-boot"
RUNNING = "hardening-kernel-parameters-are-in-effect-where-this-box-may-set-them"
MODPROBE = "hardening-unused-kernel-modules-are-not-loadable"
LIMITS = "hardening-core-dumps-are-off-for-sessions"
COREDUMP = "hardening-core-dumps-are-not-kept-by-systemd"
UMASK = "hardening-login-shells-of-people-get-the-umask"
LOGIN_DEFS = "hardening-login-defs-umask-is-set"
NEEDRESTART = "hardening-needrestart-restarts-services-after-upgrades"

# CIS Debian Linux 12 v1.1.0 section 3.3 and dev-sec os-hardening: what every box gets.
BASELINE = {
    "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.default.rp_filter": "1",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
    "net.ipv4.conf.all.secure_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv4.icmp_ignore_bogus_error_responses": "1",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv6.conf.all.accept_redirects": "0",
    "net.ipv6.conf.all.accept_source_route": "0",
    "net.ipv6.conf.all.accept_ra": "0",
    "net.ipv6.conf.default.accept_ra": "0",
    "kernel.kptr_restrict": "2",
    "kernel.dmesg_restrict": "1",
    "kernel.yama.ptrace_scope": "1",
    "kernel.randomize_va_space": "2",
    "kernel.unprivileged_bpf_disabled": "1",
    "net.core.bpf_jit_harden": "2",
    "fs.protected_hardlinks": "1",
    "fs.protected_symlinks": "1",
    "fs.suid_dumpable": "0",
}
MODULES = ["dccp", "sctp", "rds", "tipc", "cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf"]


def args(high, state_id):
    """The arguments of a state as one dict (and its function as `fun`)."""
    body = high[state_id]
    mod = next(k for k in body if not k.startswith("__"))
    out = {"fun": f"{mod}.{next(a for a in body[mod] if isinstance(a, str))}"}
    for item in body[mod]:
        if isinstance(item, dict):
            out.update(item)
    return out


def template(name, context):
    """A file of ours as Salt's jinja renderer writes it (only plain Jinja in them)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FILES)), keep_trailing_newline=True)
    return env.get_template(name).render(**context)


def sysctl_lines(high):
    text = template("sysctl.conf.jinja", args(high, SYSCTL)["context"])
    pairs = [line.split(" = ") for line in text.splitlines() if line and not line.startswith("#")]
    return text, {k: v for k, v in pairs}


@pytest.fixture
def hardening(render):
    return lambda pillar, os_name="debian-12": render(os_name, pillar, "hardening", roles=[])


@pytest.mark.parametrize("os_name", sorted(OS_GRAINS))
def test_defaults_give_the_baseline_on_every_release(hardening, os_name):
    high = hardening(load_pillar("minimal"), os_name)
    text, conf = sysctl_lines(high)
    assert text.startswith("# Managed by Salt")
    for key, value in BASELINE.items():
        assert conf.get(key) == value, key
    # The boxes don't route: forwarding is not ours to set.
    assert not any("forwarding" in k or "ip_forward" in k for k in conf)
    assert args(high, SYSCTL)["name"] == "/etc/sysctl.d/60-webstack-hardening.conf"
    # The running kernel gets the same parameters, after the file.
    running = args(high, RUNNING)
    assert running["fun"] == "webstack_sysctl.running"
    assert {k: str(v) for k, v in running["settings"].items()} == conf
    assert running["require"] == [{"file": SYSCTL}]

    modprobe = template("modprobe.conf.jinja", args(high, MODPROBE)["context"]).splitlines()
    assert args(high, MODPROBE)["name"] == "/etc/modprobe.d/webstack-hardening.conf"
    for module in MODULES:
        assert f"install {module} /bin/false" in modprobe and f"blacklist {module}" in modprobe
    # snaps (squashfs) and the EFI partition (vfat) need theirs.
    assert not any(m in line for line in modprobe for m in ("squashfs", "vfat"))

    limits = args(high, LIMITS)
    assert limits["name"] == "/etc/security/limits.d/webstack-hardening.conf"
    rows = [line.split() for line in limits["contents"].splitlines() if not line.startswith("#")]
    assert ["*", "hard", "core", "0"] in rows and ["root", "hard", "core", "0"] in rows
    coredump = args(high, COREDUMP)["contents"]
    assert "[Coredump]\nStorage=none\nProcessSizeMax=0\n" in coredump

    umask = args(high, UMASK)
    assert umask["name"] == "/etc/profile.d/webstack-umask.sh"
    assert 'if [ "$(id -u)" -ge 1000 ]; then umask 027; fi' in umask["contents"]
    defs = args(high, LOGIN_DEFS)
    assert (defs["name"], defs["repl"], defs["append_if_not_found"]) == (
        "/etc/login.defs",
        "UMASK\t\t027",
        True,
    )

    nr = args(high, NEEDRESTART)
    assert nr["name"] == "/etc/needrestart/conf.d/webstack.conf"
    assert "$nrconf{restart} = 'a';" in nr["contents"]
    assert "$nrconf{override_rc}{qr(^salt-minion)} = 0;" in nr["contents"]
    assert nr["check_cmd"] == "perl -c"


def test_the_pillar_changes_drops_and_adds_kernel_parameters(hardening):
    pillar = with_settings(
        load_pillar("minimal"),
        hardening={
            "sysctl": {
                "net.ipv6.conf.all.accept_ra": None,
                "net.ipv6.conf.default.accept_ra": None,
                "kernel.sysrq": 176,
                "net.ipv4.tcp_rmem": "4096 131072 6291456",
            }
        },
    )
    high = hardening(pillar)
    text, conf = sysctl_lines(high)
    assert "accept_ra" not in text
    assert conf["kernel.sysrq"] == "176" and conf["net.ipv4.tcp_rmem"] == "4096 131072 6291456"
    assert conf["kernel.kptr_restrict"] == "2"  # the other defaults stay
    settings = args(high, RUNNING)["settings"]
    # The state skips a null as the file does.
    assert settings["net.ipv6.conf.all.accept_ra"] is None and settings["kernel.sysrq"] == 176


def test_knobs_off(hardening):
    pillar = with_settings(
        load_pillar("minimal"),
        hardening={
            "modules_disabled": ["sctp"],
            "umask": None,
            "core_dumps": True,
            "needrestart": {"enabled": False},
        },
    )
    high = hardening(pillar, "ubuntu-24.04")
    modprobe = template("modprobe.conf.jinja", args(high, MODPROBE)["context"])
    assert [line for line in modprobe.splitlines() if not line.startswith("#")] == [
        "install sctp /bin/false",
        "blacklist sctp",
    ]
    assert args(high, UMASK)["fun"] == "file.absent" and LOGIN_DEFS not in high
    assert args(high, LIMITS)["fun"] == "file.absent" and args(high, COREDUMP)["fun"] == "file.absent"
    assert args(high, NEEDRESTART)["fun"] == "file.absent"
    removed = args(high, "hardening-needrestart-is-absent")
    assert (removed["fun"], removed["name"]) == ("pkg.removed", "needrestart")


def test_list_mode_and_another_umask(hardening):
    pillar = with_settings(
        load_pillar("minimal"), hardening={"umask": "077", "needrestart": {"restart": "l"}}
    )
    high = hardening(pillar, "ubuntu-22.04")
    assert "umask 077;" in args(high, UMASK)["contents"]
    assert args(high, LOGIN_DEFS)["repl"] == "UMASK\t\t077"
    assert "$nrconf{restart} = 'l';" in args(high, NEEDRESTART)["contents"]


def test_needrestart_comes_with_the_other_components_packages(salt_loader):
    def packages(pillar):
        mods = salt_loader(pillar=pillar, grains=OS_GRAINS["debian-12"]).salt
        return mods["webstack_pkg.packages"](exclude=["base", "users", "ssh"])

    assert "needrestart" in packages(load_pillar("minimal"))
    assert "needrestart" not in packages(
        with_settings(load_pillar("minimal"), hardening={"needrestart": {"enabled": False}})
    )


@pytest.fixture
def validate(salt_loader):
    fn = salt_loader().salt["webstack.validate"]
    return lambda hardening: fn(
        {"webstack": {"project": {"name": "shop"}, "hardening": hardening}}, {"roles": []}
    )


@pytest.mark.parametrize(
    "section, key",
    [
        ({"sysctl": {"kernel.kptr_restrict": "two"}}, "webstack:hardening:sysctl:kernel.kptr_restrict"),
        ({"sysctl": {"kernel.kptr_restrict": True}}, "webstack:hardening:sysctl:kernel.kptr_restrict"),
        ({"sysctl": {"kernel": 1}}, "webstack:hardening:sysctl"),
        ({"sysctl": {"net.ipv4.tcp_syncookies": "1\nkernel.sysrq = 1"}}, "webstack:hardening:sysctl"),
        ({"modules_disabled": ["sctp; rm -rf /"]}, "webstack:hardening:modules_disabled:0"),
        ({"modules_disabled": "sctp"}, "webstack:hardening:modules_disabled"),
        ({"umask": "0277x"}, "webstack:hardening:umask"),
        ({"umask": 27}, "webstack:hardening:umask"),
        ({"core_dumps": "no"}, "webstack:hardening:core_dumps"),
        ({"needrestart": {"restart": "i"}}, "webstack:hardening:needrestart:restart"),
        ({"needrestart": {"enable": True}}, "webstack:hardening:needrestart"),
    ],
)
def test_bad_values_are_refused_naming_the_key(validate, section, key):
    problems = validate(section)
    assert problems and all(p.startswith(key) for p in problems), problems


def test_defaults_and_pillar_example_are_valid(validate):
    assert validate({}) == []
    assert validate(load_pillar("example")["webstack"]["hardening"]) == []
