"""Benchmark: `hubkit verify ID --lab` on a converged lab vs a plain sequential pytest baseline.

(a) `hubkit verify ID --lab`: one ControlMaster per host (opened cold: existing
    masters are closed first), one pytest process per host plus the probes,
    all in parallel.
(b) baseline, the same suites and probes with plain pytest + testinfra, run one
    after the other (one pytest per role, `--hosts=ssh://h1,ssh://h2,...`), with
    ControlMaster off, so every command opens its own SSH connection.

Targets (issue 6): (a) <= 10 s for the Zeitz lab, and a/b <= 0.5.

Run as root:  .venv/bin/python bench/verify.py [--runs 3] [--keep]
The hub is the Zeitz example renamed to ``hkvb-zeitz`` (its lab never collides
with an engineer's `zeitz` lab); the lab is brought up and converged first
unless it is already running (`--keep` leaves it up afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUB = "hkvb-zeitz"
TARGET_A, TARGET_RATIO = 10.0, 0.5
FLEET = Path(os.environ.get("HUBKIT_BENCH_FLEET", "/var/tmp/hubkit-bench-verify/fleet"))


def hubkit(*args, env=None, check=True) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("hubkit"))
    r = subprocess.run([exe, "--fleet", str(FLEET), *args], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise SystemExit(f"hubkit {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def prepare(env) -> None:
    """A rendered fleet with the renamed hub, and its lab up and converged."""
    from hubkit import lab
    from hubkit.scaffold import init_single_hub_fleet
    if not (FLEET / "hubs" / f"{HUB}.yaml").is_file():
        FLEET.parent.mkdir(parents=True, exist_ok=True)
        init_single_hub_fleet(FLEET, HUB)
        (FLEET / ".bench-vault-password").write_text(env["HUBKIT_VAULT_PASSWORD"])
        hubkit("secrets", "init", HUB, env=env)
    hubkit("render", HUB, env=env)
    if lab.load(HUB) is None:
        print(f"bench: bringing up and converging the {HUB} lab (once)", file=sys.stderr)
        hubkit("lab", "up", HUB, env=env)
        hubkit("configure", HUB, "--lab", env=env)


def close_masters(info, names) -> None:
    for n in names:
        subprocess.run(info.netns_exec("ssh", "-F", str(info.ssh_config), "-o", f"ControlPath={info.dir}/cm/%C",
                                       "-O", "exit", n), capture_output=True)


def run_a(env, info, names) -> tuple[float, dict]:
    close_masters(info, names)
    t0 = time.perf_counter()
    r = hubkit("verify", HUB, "--lab", "--json", env=env, check=False)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"hubkit verify failed to run ({r.returncode}): {r.stderr[-2000:]}")
    return dt, json.loads(r.stdout)["summary"]


def run_b(info, target, workdir: Path, autoload: bool) -> tuple[float, int]:
    """Plain pytest, sequential, no ControlMaster: one pytest per role over all its hosts, then the probes.

    ``autoload``: pytest as installed (every setuptools plugin loads: plain pytest); without it,
    the same start-up as (a), so the ratio isolates parallelism and ControlMaster."""
    from hubkit import verify
    extra = verify.ssh_options(None)
    verify.write_context(target, workdir, info.ssh_config, extra)
    ctx = workdir / "context.json"
    by_role: dict[str, list[str]] = {}
    for name, role in target.hosts.items():
        by_role.setdefault(role, []).append(name)
    suites = verify.role_suites()
    cmds = []
    for role, names in sorted(by_role.items()):
        files = [str(p) for p in suites.get(role, [])]
        if files:
            cmds.append(["--hosts=" + ",".join(f"ssh://{n}" for n in names), f"--ssh-config={info.ssh_config}",
                         f"--ssh-extra-args={' '.join(extra)}", "--sudo", *files])
    cmds.append([str(verify.PROBES)])
    t0 = time.perf_counter()
    n = 0
    for args in cmds:
        report = workdir / f"b-{len(args)}-{n}.json"
        plugins = [] if autoload else ["-p", "testinfra.plugin"]
        r = subprocess.run(info.netns_exec(sys.executable, "-m", "pytest", "-q", *plugins,
                                           "-p", "hubkit.verify.plugin",
                                           "-p", "no:cacheprovider", f"--rootdir={verify.PLAYBOOKS}",
                                           "--import-mode=importlib", f"--hubkit-context={ctx}",
                                           f"--hubkit-report={report}", *args),
                           capture_output=True, text=True,
                           env={**os.environ, **({} if autoload else {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})})
        got = verify.parse_report(report) or []
        n += len(got)
        if r.returncode not in (0, 1):
            raise SystemExit(f"baseline pytest failed ({r.returncode}): {r.stdout[-2000:]}")
    return time.perf_counter() - t0, n


def main() -> int:
    global FLEET, HUB
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    ap.add_argument("--fleet", type=Path, help="use this fleet's already converged lab of --hub (kept up)")
    ap.add_argument("--hub", default=HUB)
    args = ap.parse_args()
    if args.fleet:
        FLEET, HUB, args.keep = args.fleet.resolve(), args.hub, True
    if os.geteuid() != 0:
        print("bench/verify.py needs root (the lab)", file=sys.stderr)
        return 3
    from hubkit import lab, verify
    from hubkit.lab import image
    if image.current() is None:
        print("no lab base image: run 'hubkit lab image build' first", file=sys.stderr)
        return 3
    pw_file = FLEET / ".bench-vault-password"
    pw = pw_file.read_text() if pw_file.is_file() else secrets.token_urlsafe(16)
    env = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": os.environ.get("HUBKIT_VAULT_PASSWORD", pw)}
    if not args.fleet:
        prepare(env)
    elif lab.load(HUB) is None:
        print(f"no running lab {HUB}: bring it up and configure it first", file=sys.stderr)
        return 3
    info = lab.load(HUB)
    target = verify.resolve(FLEET, HUB, lab=True)
    names = list(target.hosts)
    try:
        a_times, b_times, b2_times, summary, nb = [], [], [], {}, 0
        for _ in range(args.runs):
            dt, summary = run_a(env, info, names)
            a_times.append(dt)
            with tempfile.TemporaryDirectory() as tmp:
                dt, nb = run_b(info, target, Path(tmp), autoload=True)
            b_times.append(dt)
            with tempfile.TemporaryDirectory() as tmp:
                dt, _ = run_b(info, target, Path(tmp), autoload=False)
            b2_times.append(dt)
        a, b, b2 = statistics.median(a_times), statistics.median(b_times), statistics.median(b2_times)
        checks = sum(summary.values())
        print(f"(a) hubkit verify {HUB} --lab: median {a:.2f} s over {args.runs} run(s) "
              f"({', '.join(f'{x:.2f}' for x in a_times)}); {checks} checks on {len(names)} hosts + probes "
              f"({summary}); target {TARGET_A:.0f} s -> {'met' if a <= TARGET_A else 'MISSED'}")
        print(f"(b) plain pytest, sequential, no ControlMaster: median {b:.2f} s "
              f"({', '.join(f'{x:.2f}' for x in b_times)}); {nb} checks")
        print(f"(b2) the same with (a)'s pytest start-up (no plugin autoload): median {b2:.2f} s "
              f"({', '.join(f'{x:.2f}' for x in b2_times)})")
        print(f"ratio a/b = {a / b:.2f} (target <= {TARGET_RATIO}) -> {'met' if a / b <= TARGET_RATIO else 'MISSED'}; "
              f"a/b2 = {a / b2:.2f} (parallelism and ControlMaster alone)")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if not args.keep:
            lab.down(HUB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
