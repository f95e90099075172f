"""Benchmark: the real cloud path in the lab (Keycloak start, provision, no-op, preview, destroy).

Through the CLI, as a user runs it, against a fresh lab (hub ``hkbc-zeitz``):

  (kc)       Keycloak's first start in the lab, until it answers (cold for the lab:
             fresh database; the page cache holds the distribution after setup)
  (up)       `hubkit provision --lab`, first run: realm stack + hub stack created
  (noop)     the same again: refresh, nothing to change
  (preview)  `hubkit plan --lab --cloud-only`: refresh + preview of both stacks
  (destroy)  `hubkit destroy --lab --yes`

Baseline, measured in the same run: (b) the hub's identity objects made with
plain admin-API calls (group, role, one user per staff member with a
temporary password, memberships), then deleted: what the work costs without
the engine.  Prints each figure and its ratio to (b).

    .venv/bin/python bench/cloud.py [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hubkit.scaffold import init_single_hub_fleet

HUB = "hkbc-zeitz"
HUBKIT = str(Path(sys.executable).with_name("hubkit"))
ENV = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": "bench-cloud-pw"}


def _cli(root: Path, *args: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([HUBKIT, "--fleet", str(root), *args], env=ENV, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"hubkit {' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}")
    return dt


def _bare(root: Path) -> float:
    """Group, role, users with temporary passwords and memberships by plain API calls, then removed."""
    from hubkit import netns
    from hubkit.cloud import keycloak_api
    from hubkit.fleet.repo import load_fleet
    from hubkit.lab import keycloak, load
    staff = [m.username for m in load_fleet(root).hub(HUB).model.staff]

    def work() -> float:
        svc = keycloak.service(HUB)
        a = keycloak_api.Admin(svc.url, keycloak.ADMIN_USER, svc.admin_password())
        r = "digitalhubs"
        t0 = time.perf_counter()
        a.write("POST", f"/admin/realms/{r}/groups", {"name": "bench-group"})
        a.write("POST", f"/admin/realms/{r}/roles", {"name": "bench-admin"})
        gid = a.group(r, "bench-group")["id"]
        for n in staff:
            a.write("POST", f"/admin/realms/{r}/users", {
                "username": f"bench-{n}", "enabled": True, "requiredActions": ["UPDATE_PASSWORD"],
                "credentials": [{"type": "password", "value": "Bench-pw-123456", "temporary": True}]})
            a.write("PUT", f"/admin/realms/{r}/users/{a.user(r, f'bench-{n}')['id']}/groups/{gid}", {})
        dt = time.perf_counter() - t0
        for n in staff:
            a.delete(f"/admin/realms/{r}/users/{a.user(r, f'bench-{n}')['id']}")
        a.delete(f"/admin/realms/{r}/groups/{gid}")
        a.delete(f"/admin/realms/{r}/roles/bench-admin")
        return dt
    return netns.run_in(load(HUB).netns_mgmt, work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from hubkit.lab import keycloak
    with tempfile.TemporaryDirectory(prefix="hubkit-bench-cloud-") as tmp:
        root = init_single_hub_fleet(Path(tmp) / "fleet", HUB)
        _cli(root, "secrets", "init", HUB)
        rounds = []
        try:
            for _ in range(args.repeat):
                _cli(root, "lab", "up", HUB)
                t0 = time.perf_counter()
                keycloak.start(HUB)
                keycloak.wait_ready(HUB)
                kc = time.perf_counter() - t0
                up = _cli(root, "provision", HUB, "--lab")
                noop = _cli(root, "provision", HUB, "--lab")
                preview = _cli(root, "plan", HUB, "--lab", "--cloud-only")
                destroy = _cli(root, "destroy", HUB, "--lab", "--yes")
                b = _bare(root)
                rounds.append({"kc": kc, "up": up, "noop": noop, "preview": preview, "destroy": destroy, "b": b})
                _cli(root, "lab", "down", HUB)
        finally:
            subprocess.run([HUBKIT, "--fleet", str(root), "lab", "down", HUB], env=ENV, capture_output=True)
    best = {k: min(r[k] for r in rounds) for k in rounds[0]}
    b = best["b"]
    print(f"rounds: {args.repeat} (a fresh lab and Keycloak each); hub {HUB}, CLI {HUBKIT}")
    print(f"(kc)      Keycloak first start to answering:        {best['kc']:.2f} s")
    for key, label in (("up", "provision --lab, first run (2 stacks)"), ("noop", "provision --lab, no change"),
                       ("preview", "plan --lab --cloud-only (refresh + preview)"), ("destroy", "destroy --lab --yes")):
        print(f"({key}){' ' * (8 - len(key))}{label + ':':40} {best[key]:.2f} s  ({best[key] / b:.1f}x b)")
    print(f"(b)       plain admin-API calls for the same objects:  {b:.2f} s")
    for i, r in enumerate(rounds):
        print(f"  round {i}: " + " ".join(f"{k}={v:.2f}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
