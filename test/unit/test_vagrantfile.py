"""The Vagrantfile is valid for Debian's vagrant."""

import subprocess

from tools.harness.dockerbox import REPO


def test_vagrant_validate():
    res = subprocess.run(["vagrant", "validate"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
