"""
The command line of every process, sampled until STOP exists (what any
local user can read in /proc while Salt runs): `python3 cmdlines.py STOP
OUT` writes the distinct command lines seen to OUT, one a line, at the end.
"""

import os
import sys
import time

stop, out, seen = sys.argv[1], sys.argv[2], set()
while not os.path.exists(stop):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                seen.add(fh.read().replace(b"\0", b" ").decode(errors="replace").strip())
        except OSError:
            pass
    time.sleep(0.005)
with open(out, "w") as fh:
    fh.write("\n".join(sorted(seen)))
