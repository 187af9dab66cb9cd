"""
A dry run on a fresh box, held to the truth (issue 20): `test=True` fails
nothing, touches nothing, and predicts every state the real apply right after
it changes.

`footprint(box)` is what a dry run must leave as it was: users, groups,
packages, systemd units and their states, every path outside Salt's own
files, and which files were written since the last footprint. `touched(before,
after)` lists what differs; `unpredicted(dry, real)` the state IDs the real
apply changed that the dry run did not say it would.
"""

from __future__ import annotations

import difflib

from tools.harness.dockerbox import TEST_PILLAR_ROOT, Apply, Box

MARK = "/tmp/.webstack-dry-run-mark"
# Not the box's configuration: the kernel's and the runtime's file systems;
# what any salt-call makes for itself (its id, keys, job cache, synced
# modules, logs); the pillar the test harness hands it; the directory apt
# makes on any read of its package lists; systemd's note of when each timer
# last ran (the distribution's own timers fire when due, dry run or not:
# e2scrub_all on Sundays at 03:10, apt-daily twice a day).
NOT_THE_BOX = (
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/tmp",
    "/var/tmp",
    "/var/log",
    "/var/cache/salt",
    "/etc/salt/pki",
    "/etc/salt/minion_id",
    TEST_PILLAR_ROOT,
    "/var/lib/apt/lists/partial",
    "/var/lib/systemd/timers",
)
# systemd's bus-activated helpers behind localectl and timedatectl (Salt's
# locale and timezone modules ask them): started on a question, gone when idle.
ASKED_HELPERS = ("systemd-localed.service", "systemd-timedated.service", "systemd-hostnamed.service")
_FIND = f"find / -xdev \\( {' -o '.join(f'-path {p}' for p in NOT_THE_BOX)} \\) -prune -o"
_SCRIPT = f"""
echo '## users'; getent passwd | cut -d: -f1,3,4,6,7 | sort
echo '## groups'; getent group | sort
echo '## packages'; dpkg-query -W -f '${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' | sort
echo '## units'; systemctl list-units --all --no-legend --plain --type=service,socket,timer \\
  | awk '{{print $1, $2, $3}}' | grep -v -e {" -e ".join(ASKED_HELPERS)} | sort
echo '## enabled'; systemctl list-unit-files --no-legend --state=enabled | awk '{{print $1}}' | sort
echo '## paths'; {_FIND} -print | sort
echo '## files written since the mark'
[ -e {MARK} ] && {_FIND} ! -type d -newer {MARK} -print | sort
touch {MARK}
"""


def footprint(box: Box) -> str:
    """The box's users, groups, packages, units and files changed since the last footprint."""
    return box.exec(["sh", "-c", _SCRIPT]).stdout


def touched(before: str, after: str) -> list[str]:
    """What changed between two footprints: diff lines (files newer than the mark among them)."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def predicted(dry: Apply) -> set[str]:
    """The state IDs a test=True run says would change."""
    return set(dry.pending) | set(dry.changed)


def unpredicted(dry: Apply, real: Apply) -> set[str]:
    """State IDs the real apply changed that the dry run before it did not predict."""
    return set(real.changed) - predicted(dry)


def problems(dry: Apply, touched_lines: list[str], real: Apply) -> list[str]:
    """What is wrong with a dry run on a fresh box, given what it touched and the real apply after it."""
    found = [f"the dry run failed: {sid}: {comment}" for sid, comment in dry.failed]
    found += [f"the dry run did not run: {e}" for e in dry.errors]
    found += [f"the dry run touched the box: {line}" for line in touched_lines]
    found += [f"changed but not predicted: {sid}" for sid in sorted(unpredicted(dry, real))]
    return found
