#!/usr/bin/env python3
"""Benchmark `hubkit open zeitz --lab --yes` on a fresh lab against stock linear Ansible.

Each round, on a warm machine (cached lab image and cloud parts):

1. hubkit: a fresh fleet and a fresh lab; `hubkit open HUB --lab --yes --json`
   (the CLI, as an operator runs it).  Prints the wall time of each step (the
   configure step is the first converge, the verify step the first verify right
   after it), the ten slowest tasks of the converge, then the idempotent
   `hubkit configure HUB --lab` right after.
2. baseline, in the same run: stock `ansible-playbook site.yml` (the same
   command line, inventories and vault, but Ansible's own defaults: an empty
   ansible.cfg, so the linear strategy, 5 forks, full facts, no pipelining):
   the idempotent re-run on the lab hubkit just converged, then the first
   converge on a second fresh lab of the same hub (``--stock-first-timeout``
   bounds it: on 2026-12-07 stock Ansible's ControlPersist session to each
   workstation hung for good once the host firewall was loaded, so the stock
   first converge never finished; the bench then says so and gives no ratio).

The labs run one after the other, never at once, so neither competes with the
other for the two cores.  Best and median over the rounds; targets (issue 19):

  first converge      <= 40 s and <= 0.5x the stock linear first converge
  idempotent          <= 0.25x the stock linear idempotent re-run
  first verify        <= 6 s
  whole open          <= 60 s

The example hub is renamed (``hkob-zeitz``, ``hkbs-zeitz``) so that a lab
running under the real id on this machine is never touched.  Needs root.

    sudo .venv/bin/python bench/open.py [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUBKIT = str(Path(sys.executable).with_name("hubkit"))
HUB, BASE_HUB = "hkob-zeitz", "hkbs-zeitz"
PASSWORD = os.environ.get("HUBKIT_VAULT_PASSWORD", "bench-only-vault-password")
TARGETS = {"first_converge_s": 40.0, "first_verify_s": 6.0, "open_s": 60.0,
           "first_vs_stock": 0.5, "idempotent_vs_stock": 0.25}


def hk(fleet: Path, *args: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": PASSWORD}
    t0 = time.perf_counter()
    r = subprocess.run([HUBKIT, "--fleet", str(fleet), *args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"hubkit {' '.join(args)} failed (exit {r.returncode}) after {elapsed:.1f} s:\n"
                         f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return elapsed, r


def fresh_fleet(root: Path, hub_id: str) -> Path:
    from hubkit.lab.state import State
    from hubkit.scaffold import init_single_hub_fleet
    fleet = root / hub_id
    init_single_hub_fleet(fleet, hub_id)
    if State.load(hub_id) is not None:
        hk(fleet, "lab", "down", hub_id, check=False)
    return fleet


def hubkit_round(root: Path, default_cfg: Path) -> dict:
    fleet = fresh_fleet(root, HUB)
    try:
        open_s, r = hk(fleet, "open", HUB, "--lab", "--yes", "--json")
        doc = json.loads(r.stdout)
        steps = {s["step"]: s["duration_s"] for s in doc["steps"]}
        # The cloud step runs in the background; what the user waits for is the foreground chain,
        # plus whatever is left (CLI start-up, verify waiting for the cloud step).
        foreground = sum(s["duration_s"] for s in doc["steps"] if not s.get("background"))
        idem_s, r2 = hk(fleet, "configure", HUB, "--lab", "--json")
        changed = sum(h["changed"] for h in json.loads(r2.stdout)["hosts"].values())
        stock_idem = stock_run(fleet, HUB, default_cfg, 600.0)
        return {"open_s": open_s, "steps_s": steps, "outside_foreground_steps_s": round(open_s - foreground, 2),
                "first_converge_s": steps["configure"],
                "first_verify_s": steps["verify"], "idempotent_s": idem_s, "idempotent_changed": changed,
                "slowest_tasks": doc["slowest_tasks"], "stock_idempotent_s": stock_idem}
    finally:
        hk(fleet, "lab", "down", HUB, check=False)


def stock_run(fleet: Path, hub_id: str, default_cfg: Path, timeout: float | None = None) -> float | None:
    """hubkit's own ansible-playbook command line, run with Ansible's defaults (None: timed out)."""
    from hubkit import configure as cf
    run = cf.build_run(fleet, hub_id, lab=cf.lab_target(hub_id), env={**os.environ, "HUBKIT_VAULT_PASSWORD": PASSWORD})
    env = {k: v for k, v in run.env.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(default_cfg)
    argv = run.argv()  # inside the lab's mgmt netns
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv, cwd=run.cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        tail = (e.stdout or b"")[-1500:]
        print(f"stock ansible-playbook still running after {timeout:.0f} s; stopped. Its last output:\n"
              f"{tail.decode() if isinstance(tail, bytes) else tail}", file=sys.stderr)
        return None
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"stock ansible-playbook failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    return elapsed


def stock_round(root: Path, default_cfg: Path, timeout: float) -> dict:
    fleet = fresh_fleet(root, BASE_HUB)
    hk(fleet, "secrets", "init", BASE_HUB)
    hk(fleet, "render", BASE_HUB)
    hk(fleet, "lab", "up", BASE_HUB)
    try:
        hk(fleet, "bootstrap", BASE_HUB, "--lab")  # what open's bootstrap step does, untimed
        return {"stock_first_converge_s": stock_run(fleet, BASE_HUB, default_cfg, timeout)}
    finally:
        hk(fleet, "lab", "down", BASE_HUB, check=False)


def summary(values: list[float]) -> dict | None:
    if not values:
        return None  # never finished (stock first converge past its timeout)
    return {"best": round(min(values), 2), "median": round(statistics.median(values), 2),
            "runs": [round(v, 2) for v in values]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="hubkit/stock pairs (default 3: best and median)")
    ap.add_argument("--keep", action="store_true", help="keep the fleets (the labs are always taken down)")
    ap.add_argument("--stock-first-timeout", type=float, default=300.0,
                    help="seconds the stock first converge may take before it is stopped (default 300)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/open.py needs root (the lab)", file=sys.stderr)
        return 3
    from hubkit.lab import image
    if image.current() is None:
        print("no cached lab image: run `bash .ci/setup --lab` (or `hubkit lab image build`) first", file=sys.stderr)
        return 3
    root = Path(tempfile.mkdtemp(prefix="hubkit-bench-open-"))
    rounds = []
    try:
        default_cfg = root / "ansible-defaults.cfg"
        default_cfg.write_text("# Ansible's defaults: nothing set\n[defaults]\n")
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}: hubkit open, then stock ansible-playbook", file=sys.stderr)
            r = {**hubkit_round(root / f"r{i}", default_cfg),
                 **stock_round(root / f"r{i}", default_cfg, args.stock_first_timeout)}
            print(json.dumps({k: v for k, v in r.items() if k != "slowest_tasks"}, sort_keys=True), file=sys.stderr)
            rounds.append(r)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    keys = ["open_s", "outside_foreground_steps_s", "first_converge_s", "first_verify_s", "idempotent_s",
            "stock_first_converge_s", "stock_idempotent_s"]
    fig = {k: summary([r[k] for r in rounds if r[k] is not None]) for k in keys}
    for step in rounds[0]["steps_s"]:
        fig[f"step_{step}_s"] = summary([r["steps_s"][step] for r in rounds])
    ratio_first = [r["first_converge_s"] / r["stock_first_converge_s"] for r in rounds
                   if r["stock_first_converge_s"] is not None]
    ratio_idem = [r["idempotent_s"] / r["stock_idempotent_s"] for r in rounds if r["stock_idempotent_s"] is not None]
    fig["first_vs_stock"] = summary(ratio_first)
    fig["idempotent_vs_stock"] = summary(ratio_idem)
    fastest = min(rounds, key=lambda r: r["first_converge_s"])
    out = {"hub": HUB, "rounds": args.rounds, "load_average_1m": round(os.getloadavg()[0], 2),
           "figures": fig, "idempotent_changed": [r["idempotent_changed"] for r in rounds],
           "slowest_tasks_of_fastest_first_converge": fastest["slowest_tasks"]}
    print(json.dumps(out, indent=2, sort_keys=True))

    from hubkit.cli.configure import slowest_lines
    print("\nsteps of `open` (wall time, best / median s):")
    for step in rounds[0]["steps_s"]:
        f = fig[f"step_{step}_s"]
        print(f"  {step:<10} {f['best']:7.2f} / {f['median']:7.2f}"
              + ("  (in the background, beside bootstrap and configure)" if step == "cloud" else ""))
    f = fig["outside_foreground_steps_s"]
    print(f"  {'(rest)':<10} {f['best']:7.2f} / {f['median']:7.2f}  wall outside the foreground steps: "
          "CLI start-up, verify waiting for the cloud step")
    print()
    for line in slowest_lines(fastest["slowest_tasks"], "ten slowest tasks of the fastest first converge"):
        print(line)
    print("\nfigure                                   best     median   target")
    rows = [("open zeitz --lab --yes, fresh lab (s)", "open_s", TARGETS["open_s"]),
            ("first converge (s)", "first_converge_s", TARGETS["first_converge_s"]),
            ("first converge / stock linear", "first_vs_stock", TARGETS["first_vs_stock"]),
            ("first verify right after it (s)", "first_verify_s", TARGETS["first_verify_s"]),
            ("idempotent configure (s)", "idempotent_s", None),
            ("idempotent / stock linear", "idempotent_vs_stock", TARGETS["idempotent_vs_stock"]),
            ("stock linear first converge (s)", "stock_first_converge_s", None),
            ("stock linear idempotent (s)", "stock_idempotent_s", None)]
    missed = []
    for label, key, target in rows:
        f = fig[key]
        if f is None:
            print(f"  {label:<38}      n/a      n/a   did not finish (see above)"
                  + (f"; target {target:g} NOT measurable" if target is not None else ""))
            if target is not None:
                missed.append(label + " (not measurable)")
            continue
        verdict = ""
        if target is not None:
            verdict = f"<= {target:g}: " + ("met" if f["median"] <= target else "MISSED")
            if f["median"] > target:
                missed.append(label)
        print(f"  {label:<38} {f['best']:8.2f} {f['median']:8.2f}   {verdict}")
    print("\nall targets met (median)" if not missed else f"\nmissed (median): {'; '.join(missed)}")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
