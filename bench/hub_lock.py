"""Benchmark: how fast a second run is refused by the per-hub lock.

A holder process takes ``hub_lock``; this process then tries to take it with
``wait=0`` and measures the time until ``LockedError`` (target: well under
2 s).  Baseline measured in the same run: taking and releasing the same lock
uncontended.  The refusal includes reading the holder's JSON body.

    .venv/bin/python bench/hub_lock.py [--repeat R]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

from hubkit.errors import LockedError
from hubkit.lock import hub_lock

HOLDER = """
import sys
from hubkit.lock import hub_lock
with hub_lock(sys.argv[1], "bench", command="configure"):
    print("held", flush=True)
    sys.stdin.read()
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            with hub_lock(root, "bench", command="bench"):
                pass
        base = (time.perf_counter() - t0) / args.repeat
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, root], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        worst = 0.0
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            t1 = time.perf_counter()
            try:
                with hub_lock(root, "bench", command="bench"):
                    raise SystemExit("lock acquired while held")
            except LockedError:
                pass
            worst = max(worst, time.perf_counter() - t1)
        refused = (time.perf_counter() - t0) / args.repeat
        holder.stdin.close()
        holder.wait()
    print(f"uncontended acquire+release: {base * 1e3:.3f} ms")
    print(f"refusal of a second run:     {refused * 1e3:.3f} ms mean, {worst * 1e3:.3f} ms worst "
          f"(target < 2000 ms)")
    print(f"ratio refusal/uncontended:   {refused / base:.1f}x")
    return 0 if worst < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
