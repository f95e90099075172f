"""Benchmark: idempotent `hubkit configure --lab` vs plain ansible-playbook defaults.

On a lab of the Zeitz hub (renamed ``hkbn-zeitz`` so it never touches a lab an
engineer runs), after a first converge, this times in one run:

  (a) ``hubkit configure hkbn-zeitz --lab`` as an idempotent re-run (hubkit's
      ansible.cfg: Mitogen's free strategy, forks >= hosts, no fact
      gathering, no interpreter discovery);
  (b) plain ``ansible-playbook`` on the same playbooks, inventories and lab
      with a default ansible.cfg (an empty file: no pipelining, forks 5, full
      facts, linear strategy, interpreter discovery).

It prints the first-converge time, both figures and a/b (target <= 0.4).
Needs root and the lab base image (``hubkit lab image build``).

    .venv/bin/python bench/configure.py [--rounds N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUB = "hkbn-zeitz"
PASSWORD = "hkbn-bench-vault-password"
HUBKIT = str(Path(sys.executable).with_name("hubkit"))


def hubkit(fleet: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": PASSWORD}
    r = subprocess.run([HUBKIT, "--fleet", str(fleet), *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"hubkit {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def timed_configure(fleet: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = hubkit(fleet, "configure", HUB, "--lab", "--json")
    return time.perf_counter() - t0, json.loads(r.stdout)


def plain_run(fleet: Path, default_cfg: Path) -> float:
    """The same ansible-playbook command, but with Ansible's defaults."""
    from hubkit import configure as cf
    run = cf.build_run(fleet, HUB, lab=cf.lab_target(HUB),
                       env={**os.environ, "HUBKIT_VAULT_PASSWORD": PASSWORD})
    env = {k: v for k, v in run.env.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(default_cfg)
    t0 = time.perf_counter()
    r = subprocess.run(run.argv(), cwd=run.cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"plain ansible-playbook failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    recap = re.findall(r"changed=(\d+)", r.stdout.split("PLAY RECAP")[-1])
    if any(int(c) for c in recap):
        print(f"note: the plain run reported changes: {recap}", file=sys.stderr)
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1, help="(a)/(b) pairs; the best of each is used")
    ap.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/configure.py needs root (the lab)")
    from hubkit import lab
    from hubkit.scaffold import init_single_hub_fleet

    with tempfile.TemporaryDirectory(prefix="hkbn-") as tmp:
        fleet = Path(tmp) / "fleet"
        init_single_hub_fleet(fleet, HUB)
        default_cfg = Path(tmp) / "ansible.cfg"
        default_cfg.write_text("# Ansible defaults: nothing set\n[defaults]\n")
        hubkit(fleet, "secrets", "init", HUB)
        hubkit(fleet, "render", HUB)
        if lab.load(HUB) is not None:
            lab.down(HUB)
        hubkit(fleet, "lab", "up", HUB)
        try:
            first, doc = timed_configure(fleet)
            hosts = len(doc["hosts"])
            a_times, b_times = [], []
            for _ in range(args.rounds):
                a, doc = timed_configure(fleet)
                changed = sum(c["changed"] for c in doc["hosts"].values())
                if changed:
                    print(f"note: the idempotent re-run changed {changed} task(s)", file=sys.stderr)
                a_times.append(a)
                b_times.append(plain_run(fleet, default_cfg))
        finally:
            if not args.keep:
                lab.down(HUB)
    a, b = min(a_times), min(b_times)
    load = os.getloadavg()[0]
    print(f"configure benchmark, Zeitz lab ({hosts} hosts), load average {load:.1f}")
    print(f"  first converge (hubkit configure --lab):    {first:7.1f} s")
    print(f"  (a) idempotent re-run, hubkit settings:     {a:7.1f} s  (runs: {', '.join(f'{t:.1f}' for t in a_times)})")
    print(f"  (b) idempotent re-run, Ansible defaults:    {b:7.1f} s  (runs: {', '.join(f'{t:.1f}' for t in b_times)})")
    print(f"  a/b = {a / b:.2f}  (target <= 0.40: {'met' if a / b <= 0.4 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
