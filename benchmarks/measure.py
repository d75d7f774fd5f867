"""Run a command; write its wall time, CPU time, exit status and peak RSS as JSON.

    python -I benchmarks/measure.py RESULT.json -- COMMAND [ARGS...]

CPU time is user + system, of the process and the children it waited for. The peak RSS is
the command's own ``ru_maxrss`` from ``os.wait4`` (the largest of the process
and any children it waited for, not their sum). It needs this small intermediate process:
Linux carries the memory high-water mark of the process that forks over ``exec``, so a
command started straight from a benchmark that holds a model would report the benchmark's
size. Only the standard library is imported here, so this process stays small (about 10 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    result, command = sys.argv[1], sys.argv[3:]
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as out:
        cpu = usage.ru_utime + usage.ru_stime
        json.dump({"wall": wall, "cpu": cpu, "returncode": code, "maxrss_kib": usage.ru_maxrss}, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
