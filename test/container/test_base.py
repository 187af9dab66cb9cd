"""
base: packages, clock, locale, names and unattended upgrades on a real box.

Unattended upgrades are checked by what unattended-upgrade would do: a local
apt archive labelled like Debian's security suite and another labelled like
its point releases each offer a newer version of installed probe packages,
and a dry run must pick exactly the security one (not the held-back ones).
"""

import pytest
from box_helpers import helper
from conftest import converge, load_pillar, with_settings

PILLAR = with_settings(
    load_pillar("minimal"),
    base={
        "timezone": "America/New_York",
        "locale": "de_DE.UTF-8",
        "packages": ["jq"],
        # A container's name is set by docker: the pillar's must not be tried.
        "hostname": "web1.example.test",
        "unattended_upgrades": {"blacklist": ["webstack-probe-held"]},
    },
)


@pytest.fixture(scope="module")
def based(boxes):
    box = boxes.start("base")
    return box, converge(box, PILLAR, "base")


@pytest.fixture
def box(based):
    return based[0]


def test_timezone_is_in_effect(box):
    assert box.exec(["date", "-d", "@0", "+%F %H:%M %Z"]).stdout.strip() == "1969-12-31 19:00 EST"
    assert box.exec(["timedatectl", "show", "-p", "Timezone", "--value"]).stdout.strip() == "America/New_York"


def test_locale_is_generated_and_a_login_gets_it(box):
    out = box.exec(["su", "-l", "root", "-c", "echo $LANG; date -d 2024-01-01 +%A"]).stdout.split()
    assert out == ["de_DE.UTF-8", "Montag"]


def test_base_and_extra_packages_are_installed(box):
    assert box.exec(["jq", "-n", "1 + 1"]).stdout.strip() == "2"
    box.exec("command -v git curl unattended-upgrade sudo sshd")


def test_a_container_keeps_its_host_name_and_the_hosts_file_of_its_runtime(based):
    box, result = based
    assert "base-hostname-is-set" not in result.by_id
    assert "base-hosts-file-names-this-box" not in result.by_id
    assert box.exec("hostname").stdout.strip() == "base"
    # Docker's /etc/hosts (rewritten at every start) names the box already.
    assert box.exec(["getent", "-s", "files", "hosts", "base"]).stdout.split()[1:] == ["base"]


def test_unattended_upgrades_take_only_security_updates_and_hold_salt(box):
    box.exec(["sh", helper("probe_archives.sh")])  # apt archives of probe packages, /srv/probe
    # Both archives do offer upgrades to apt: only policy keeps them out.
    policy = box.exec("APT_CONFIG=/srv/probe/apt.conf apt list --upgradable 2>/dev/null").stdout
    for pkg in ("webstack-probe-security", "webstack-probe-release", "webstack-probe-held", "salt-minion"):
        assert f"{pkg}/" in policy, policy
    out = box.exec("APT_CONFIG=/srv/probe/apt.conf unattended-upgrade --dry-run -d 2>&1").stdout
    picked = [line for line in out.splitlines() if line.startswith("Packages that will be upgraded:")]
    assert picked == ["Packages that will be upgraded: webstack-probe-security"], out
    assert "skipping blacklisted package salt-minion" in out, out


def test_daily_timers_run_unattended_upgrades(box):
    box.exec("systemctl is-active apt-daily.timer apt-daily-upgrade.timer")
    assert box.exec("apt-config shell V APT::Periodic::Unattended-Upgrade").stdout.strip() == "V='1'"


def test_base_is_idempotent(box, idempotent):
    idempotent(box, PILLAR, "base")
