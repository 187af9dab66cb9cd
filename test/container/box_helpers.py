"""
The helper programs the container tests run inside boxes (stand-in servers,
probes, clients, set-up scripts) are files under test/container/helpers/.
Every box has the repository mounted (tools/harness/dockerbox.py MOUNT), so a box
runs them from there: `helper("probe.py")` is that path inside a box.
`copy_helper` puts a copy elsewhere in a box instead: for a program run by
another user than root, or installed under a name of its own.
"""

from __future__ import annotations

from pathlib import Path

from tools.harness.dockerbox import MOUNT, REPO, Box

HELPERS = Path(__file__).resolve().parent / "helpers"


def helper(name: str) -> str:
    """The path of helpers/`name` inside every box (the repository's mount)."""
    if not (HELPERS / name).is_file():
        raise FileNotFoundError(HELPERS / name)
    return f"{MOUNT}/{HELPERS.relative_to(REPO).as_posix()}/{name}"


def helper_text(name: str) -> str:
    """The content of helpers/`name`."""
    return (HELPERS / name).read_text()


def copy_helper(box: Box, name: str, path: str, mode: int = 0o755) -> None:
    """helpers/`name` copied to `path` in `box`."""
    box.put_file(path, helper_text(name), mode=mode)
