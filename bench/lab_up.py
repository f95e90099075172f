"""Benchmark: `lab up` / `lab down` of the Zeitz lab with a warm image cache.

Targets (issue 4): up <= 10 s with every host answering SSH at the end, down <= 3 s.
Baseline measured in the same run: the same lab in the chroot fallback mode
(sshd only, no systemd boot), so the ratio shows what booting real systemd costs.

Run as root:  .venv/bin/python bench/lab_up.py [--runs 3]
The lab id is ``hkbench-zeitz`` (the Zeitz hub renamed) so it never collides
with a lab someone runs under the real hub id.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_UP, TARGET_DOWN = 10.0, 3.0
LAB_ID = "hkbench-zeitz"


def make_fleet(root: Path):
    from hubkit.fleet.repo import load_fleet
    from hubkit.scaffold import init_single_hub_fleet
    init_single_hub_fleet(root, LAB_ID)
    return load_fleet(root).hub(LAB_ID)


def measure(record, mode: str, runs: int) -> tuple[list[float], list[float], int]:
    from hubkit import lab
    os.environ["HUBKIT_LAB_MODE"] = mode
    ups, downs, n = [], [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        lab.up(record)
        ups.append(time.perf_counter() - t0)
        info = lab.load(LAB_ID)
        n = sum(1 for h in info.hosts if h["role"] != "mgmt")
        assert info.mode == mode
        t0 = time.perf_counter()
        lab.down(LAB_ID)
        downs.append(time.perf_counter() - t0)
    return ups, downs, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/lab_up.py needs root", file=sys.stderr)
        return 3
    from hubkit import lab
    from hubkit.lab import image
    if image.current() is None:
        print("no base image: run 'hubkit lab image build' first", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory() as tmp:
        record = make_fleet(Path(tmp) / "fleet")
        if lab.load(LAB_ID) is not None:
            lab.down(LAB_ID)
        up_n, down_n, hosts = measure(record, "nspawn", args.runs)
        up_c, down_c, _ = measure(record, "chroot", args.runs)
    mu, md = statistics.median(up_n), statistics.median(down_n)
    bu, bd = statistics.median(up_c), statistics.median(down_c)
    print(f"lab up   (nspawn, {hosts} hosts + mgmt netns, SSH-verified): median {mu:.2f} s "
          f"(runs {', '.join(f'{x:.2f}' for x in up_n)}); target {TARGET_UP:.0f} s -> {mu / TARGET_UP:.2f}x target")
    print(f"lab down (nspawn): median {md:.2f} s (runs {', '.join(f'{x:.2f}' for x in down_n)}); "
          f"target {TARGET_DOWN:.0f} s -> {md / TARGET_DOWN:.2f}x target")
    print(f"baseline chroot mode (sshd only): up {bu:.2f} s, down {bd:.2f} s; "
          f"nspawn/chroot ratio up {mu / bu:.2f}x, down {md / bd:.2f}x")
    ok = mu <= TARGET_UP and md <= TARGET_DOWN
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
