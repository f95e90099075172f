"""Benchmark/report: the Lynis hardening index per hub host, against unhardened hosts of the same run.

(a) the index of the router, the switch and every workstation of a converged lab;
(b) baseline, in the same run: the same hosts straight from the lab image
    (`lab up`, before `configure`): what a hub host is without hubkit's roles.

Lynis is Debian's ``lynis`` from the lab image's apt cache, installed for the scan
and removed after it (``hubkit.lab.lynis``); ``audit system --quick``.  Target
(issue 16): (a) >= 80 on the router and every workstation.

Run as root:  .venv/bin/python bench/lynis.py [--keep] [--parallel 3]
The hub is the Zeitz example renamed ``hkhd-bench`` (never an engineer's lab);
the lab is brought up fresh (a running one is taken down first, so the
baseline really is unconfigured) and taken down afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

HUB = "hkhd-bench"
TARGET = 80
FLEET = Path(os.environ.get("HUBKIT_BENCH_FLEET", "/var/tmp/hubkit-bench-lynis/fleet"))


def hubkit(*args, env) -> None:
    exe = str(Path(sys.executable).with_name("hubkit"))
    r = subprocess.run([exe, "--fleet", str(FLEET), *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"hubkit {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    ap.add_argument("--parallel", type=int, default=3, help="hosts scanned at once (default 3)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/lynis.py needs root (it runs a lab)")
    from hubkit import lab, topology
    from hubkit.fleet.repo import load_fleet
    from hubkit.lab import lynis
    from hubkit.scaffold import init_single_hub_fleet

    pw_file = FLEET / ".bench-vault-password"
    if not (FLEET / "hubs" / f"{HUB}.yaml").is_file():
        FLEET.parent.mkdir(parents=True, exist_ok=True)
        init_single_hub_fleet(FLEET, HUB)
        pw_file.write_text(secrets.token_urlsafe(16))
    env = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": pw_file.read_text()}
    if not (FLEET / "secrets" / f"{HUB}.vault.yml").is_file():
        hubkit("secrets", "init", HUB, env=env)
    topo = topology.build(load_fleet(FLEET).hub(HUB).model)
    hosts = [topo.router.name, topo.switch.name] + [w.name for w in topo.workstations]
    roles = {topo.router.name: "router", topo.switch.name: "switch"} | {w.name: "workstation" for w in topo.workstations}

    hubkit("render", HUB, env=env)
    if lab.load(HUB) is not None:
        lab.down(HUB)
    hubkit("lab", "up", HUB, env=env)
    try:
        t0 = time.perf_counter()
        before = lynis.scan_all(HUB, hosts, args.parallel)
        t_before = time.perf_counter() - t0
        hubkit("configure", HUB, "--lab", env=env)
        t0 = time.perf_counter()
        after = lynis.scan_all(HUB, hosts, args.parallel)
        t_after = time.perf_counter() - t0
    finally:
        if not args.keep:
            lab.down(HUB)

    load = os.getloadavg()[0]
    print(f"Lynis hardening index, hub {HUB} (lab), load average {load:.1f}")
    print(f"{'host':<12} {'role':<12} {'(b) image':>9} {'(a) hubkit':>10} {'gain':>5}  target >= {TARGET}")
    for h in hosts:
        a, b = after[h].index, before[h].index
        need = roles[h] in ("router", "workstation")
        verdict = ("met" if a >= TARGET else "MISSED") if need else "(not required)"
        print(f"{h:<12} {roles[h]:<12} {b:>9} {a:>10} {a - b:>+5}  {verdict}")
    print(f"scans: {t_before:.0f} s before, {t_after:.0f} s after configure ({len(hosts)} hosts, "
          f"{args.parallel} at once)")
    print(json.dumps({"hub": HUB, "baseline": {h: s.index for h, s in before.items()},
                      "hardened": {h: s.index for h, s in after.items()}}, sort_keys=True))
    if any(after[h].index < TARGET for h in hosts if roles[h] in ("router", "workstation")):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
