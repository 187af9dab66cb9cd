"""
base: packages, clock, locale, names and unattended upgrades on a real box.

Unattended upgrades are checked by what unattended-upgrade would do: a local
apt archive labelled like Debian's security suite and another labelled like
its point releases each offer a newer version of installed probe packages,
and a dry run must pick exactly the security one (not the held-back ones).
"""

import pytest
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

# Two flat apt archives under /srv/probe and an apt config that sees only
# them (APT_CONFIG=/srv/probe/apt.conf): the box's real archives stay out.
PROBE_ARCHIVES = r"""
set -e
P=/srv/probe
rm -rf $P; mkdir -p $P/build $P/lists/partial
deb() {  # name version archive
  d=$P/build/$1-$2; mkdir -p $d/DEBIAN $P/$3
  printf 'Package: %s\nVersion: %s\nArchitecture: all\n' $1 $2 > $d/DEBIAN/control
  printf 'Maintainer: probe <probe@example.test>\nDescription: probe\n' >> $d/DEBIAN/control
  dpkg-deb -b $d $P/$3/$1_$2_all.deb >/dev/null
}
index() {  # archive origin label codename
  cd $P/$1; : > Packages
  for f in *.deb; do
    dpkg-deb -f $f Package Version Architecture Maintainer Description >> Packages
    sum=$(sha256sum $f | cut -d' ' -f1)
    printf 'Filename: ./%s\nSize: %s\nSHA256: %s\n\n' $f $(stat -c %s $f) $sum >> Packages
  done
  printf 'Origin: %s\nLabel: %s\nCodename: %s\nSuite: %s\n' $2 $3 $4 $4 > Release
  cd /
}
for p in webstack-probe-security webstack-probe-release webstack-probe-held salt-minion; do
  deb $p 1.0 installed
done
deb webstack-probe-security 2.0 security
deb webstack-probe-held 2.0 security
deb salt-minion 2.0 security
deb webstack-probe-release 2.0 release
index security Debian Debian-Security bookworm-security
index release Debian Debian bookworm
dpkg -i $P/installed/*.deb >/dev/null
printf 'deb [trusted=yes] file:%s/security ./\ndeb [trusted=yes] file:%s/release ./\n' $P $P > $P/sources.list
cat > $P/apt.conf <<EOF
Dir::State::Lists "$P/lists";
Dir::Etc::SourceList "$P/sources.list";
Dir::Etc::SourceParts "/nonexistent";
EOF
APT_CONFIG=$P/apt.conf apt-get update -q >/dev/null 2>&1
"""


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
    box.exec(["sh", "-c", PROBE_ARCHIVES])
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
