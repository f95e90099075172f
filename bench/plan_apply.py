"""Benchmark: `hubkit plan --lab` and `hubkit apply --lab` against plain `ansible-playbook --check --diff`.

On a converged lab of the Zeitz hub (renamed ``hkbp-zeitz``; opened for real,
Keycloak included), this times in one run:

  (a) ``hubkit plan hkbp-zeitz --lab`` with no change in the fleet: a fresh
      render and its diff, Ansible's check mode with diff on every host, a
      refreshed cloud preview against the lab's Keycloak;
  (b) the same Ansible run by itself: ``ansible-playbook --check --diff`` with
      hubkit's playbook, inventory and ansible.cfg, nothing else (the
      baseline: what the hosts part of a plan costs);
  (c) ``hubkit apply hkbp-zeitz --lab`` of one staff change (a rotated
      initial password: three tasks on one workstation), i.e. render,
      provision, configure and the whole verify.

It prints the three figures and a/b, c/b.  No target was set for these; the
figures show what a reviewer and an operator wait for.  Needs root, the lab
image, the Pulumi engine and Keycloak (`bash .ci/setup --lab`).

    .venv/bin/python bench/plan_apply.py [--rounds N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUB = "hkbp-zeitz"
PASSWORD = "hkbp-bench-vault-password"
HUBKIT = str(Path(sys.executable).with_name("hubkit"))
ENV = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": PASSWORD}


def hubkit(fleet: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([HUBKIT, "--fleet", str(fleet), *args], capture_output=True, text=True, env=ENV,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit(f"hubkit {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def timed(fleet: Path, *args: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = hubkit(fleet, *args)
    return time.perf_counter() - t0, json.loads(r.stdout)


def plain_check(fleet: Path) -> float:
    """ansible-playbook --check --diff, as hubkit would start it, and nothing else."""
    from hubkit import configure as cf
    run = cf.build_run(fleet, HUB, lab=cf.lab_target(HUB), check=True, diff=True, env=ENV)
    t0 = time.perf_counter()
    r = subprocess.run(run.argv(), cwd=run.cwd, env=run.env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"ansible-playbook --check --diff failed ({r.returncode}):\n{r.stdout[-3000:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1, help="(a)/(b)/(c) rounds; the best of each is used")
    ap.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/plan_apply.py needs root (the lab)")
    from hubkit import lab
    from hubkit.scaffold import init_single_hub_fleet

    with tempfile.TemporaryDirectory(prefix="hkbp-", dir="/var/tmp") as tmp:
        fleet = Path(tmp) / "fleet"
        init_single_hub_fleet(fleet, HUB)
        hubkit(fleet, "secrets", "init", HUB)
        if lab.load(HUB) is not None:
            lab.down(HUB)
        a_times, b_times, c_times = [], [], []
        try:
            t0 = time.perf_counter()
            hubkit(fleet, "open", HUB, "--lab")
            opened = time.perf_counter() - t0
            for _ in range(args.rounds):
                a, doc = timed(fleet, "plan", HUB, "--lab", "--json")
                if doc["summary"]["changes"]:
                    print(f"note: the no-change plan found changes: {doc['summary']}", file=sys.stderr)
                a_times.append(a)
                b_times.append(plain_check(fleet))
                hubkit(fleet, "secrets", "rotate", HUB, "--staff", "zz-staff01")
                hubkit(fleet, "plan", HUB, "--lab", "--json")
                c, res = timed(fleet, "apply", HUB, "--lab", "--json")
                if not res["as_planned"] or sum(len(t) for t in res["hosts_changed"].values()) != 3:
                    print(f"note: the apply changed {res['hosts_changed']}", file=sys.stderr)
                c_times.append(c)
        finally:
            if not args.keep:
                lab.down(HUB)
    a, b, c = min(a_times), min(b_times), min(c_times)
    load = os.getloadavg()[0]
    runs = lambda ts: ", ".join(f"{t:.1f}" for t in ts)  # noqa: E731
    print(f"plan/apply benchmark, Zeitz lab (8 hosts + concentrator, Keycloak), load average {load:.1f}")
    print(f"  open --lab (set-up, for reference):                {opened:7.1f} s")
    print(f"  (a) hubkit plan --lab, no change:                  {a:7.1f} s  (runs: {runs(a_times)})")
    print(f"  (b) ansible-playbook --check --diff alone:         {b:7.1f} s  (runs: {runs(b_times)})")
    print(f"  (c) hubkit apply --lab, one staff change:          {c:7.1f} s  (runs: {runs(c_times)})")
    print(f"  a/b = {a / b:.2f}  (render + diff + cloud preview on top of the check run)")
    print(f"  c/b = {c / b:.2f}  (render + provision + configure + full verify)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
