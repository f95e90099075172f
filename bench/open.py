#!/usr/bin/env python3
"""Benchmark `hubkit open HUB --lab` from a cached base image, then the fully skipped re-run.

Targets on the reference machine (2 cores): first opening <= 180 s, re-run <= 5 s.
Baselines measured in the same run:
- first opening vs the sum of its steps' own durations (from the journal): the
  engine's overhead (hashing, journal, lock) as a ratio;
- re-run vs `hubkit validate HUB` (one cheap command: interpreter start plus a
  fleet load), so the figure shows what skipping costs beyond starting hubkit.

The example hub is renamed (default ``hkob-zeitz``) so that a lab running
under the real id on this machine is never touched.  Needs root and the
cached lab image (`hubkit lab image build`).

    sudo .venv/bin/python bench/open.py [--hub-id hkob-zeitz] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUBKIT = str(Path(sys.executable).with_name("hubkit"))
FIRST_TARGET_S = 180.0
RERUN_TARGET_S = 5.0


def hk(fleet: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "CI": "true",
           "HUBKIT_VAULT_PASSWORD": os.environ.get("HUBKIT_VAULT_PASSWORD", "bench-only-vault-password")}
    t0 = time.perf_counter()
    r = subprocess.run([HUBKIT, "--fleet", str(fleet), *args], capture_output=True, text=True, env=env)
    return time.perf_counter() - t0, r


def make_fleet(root: Path, hub_id: str) -> None:
    from hubkit.scaffold import init_single_hub_fleet
    init_single_hub_fleet(root, hub_id)


def step_durations(fleet: Path, hub_id: str) -> dict[str, float]:
    from hubkit.open.journal import Journal, journal_path
    return {e["step"]: e.get("duration_s", 0.0)
            for e in Journal(journal_path(fleet, hub_id)).last_run()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub-id", default="hkob-zeitz")
    ap.add_argument("--keep", action="store_true", help="leave the lab and the fleet in place")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/open.py needs root (the lab)", file=sys.stderr)
        return 3
    from hubkit.lab import image
    if image.current() is None:
        print("no cached lab image: run `hubkit lab image build` first", file=sys.stderr)
        return 3
    from hubkit.lab.state import State
    tmp = Path(tempfile.mkdtemp(prefix="hubkit-bench-open-"))
    fleet = tmp / "fleet"
    make_fleet(fleet, args.hub_id)
    if State.load(args.hub_id) is not None:
        hk(fleet, "lab", "down", args.hub_id)
    try:
        first_s, r1 = hk(fleet, "open", args.hub_id, "--lab", "--yes")
        if r1.returncode != 0:
            print(r1.stdout + r1.stderr, file=sys.stderr)
            print(f"open failed (exit {r1.returncode}) after {first_s:.1f} s; fleet kept in {fleet}",
                  file=sys.stderr)
            args.keep = True
            return 1
        steps = step_durations(fleet, args.hub_id)
        rerun_s, r2 = hk(fleet, "open", args.hub_id, "--lab", "--yes")
        skipped = len(re.findall(r"↷ \w+\s+skipped: inputs unchanged", r2.stderr))
        validate_s, _ = hk(fleet, "validate", args.hub_id)
        out = {
            "hub": args.hub_id,
            "first_open_s": round(first_s, 1),
            "first_open_steps_s": {k: round(v, 1) for k, v in steps.items()},
            "first_open_engine_overhead_ratio": round(first_s / max(sum(steps.values()), 1e-9), 3),
            "first_open_vs_target": round(first_s / FIRST_TARGET_S, 3),
            "rerun_s": round(rerun_s, 2),
            "rerun_steps_skipped": skipped,
            "rerun_exit": r2.returncode,
            "baseline_validate_s": round(validate_s, 2),
            "rerun_vs_validate_ratio": round(rerun_s / validate_s, 2),
            "rerun_vs_target": round(rerun_s / RERUN_TARGET_S, 3),
        }
        print(json.dumps(out, indent=2, sort_keys=True))
        ok = first_s <= FIRST_TARGET_S and rerun_s <= RERUN_TARGET_S and skipped == 8
        print(f"first opening {first_s:.1f} s (target {FIRST_TARGET_S:.0f} s), re-run {rerun_s:.2f} s "
              f"(target {RERUN_TARGET_S:.0f} s, {skipped}/8 steps skipped): "
              + ("within targets" if ok else "OUTSIDE targets"))
        return 0 if ok else 1
    finally:
        if not args.keep:
            if State.load(args.hub_id) is not None:
                hk(fleet, "lab", "down", args.hub_id)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
