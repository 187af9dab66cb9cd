"""_modules/audit.py through Salt's loader: the job id a state's audit line carries."""

import os
from pathlib import Path

import salt.payload


def test_job_id_is_the_callers_or_that_of_the_running_job_of_this_process(salt_loader):
    ldr = salt_loader()
    proc = Path(ldr.opts["cachedir"]) / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    assert ldr.salt["audit.job_id"]() is None
    # Another job (pid 1), then this process's own: saltutil.running would leave this one out.
    (proc / "20261205090000000000").write_bytes(salt.payload.dumps({"jid": "20261205090000000000", "pid": 1}))
    (proc / "20261205090000000001").write_bytes(
        salt.payload.dumps({"jid": "20261205090000000001", "pid": os.getpid()})
    )
    assert ldr.salt["audit.job_id"]() == "20261205090000000001"
    assert ldr.salt["audit.job_id"](__pub_jid="20261205090000000002") == "20261205090000000002"
