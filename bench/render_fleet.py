"""Benchmark: render a generated fleet of N hubs (default 1,000) through the real CLI.

What a fleet's CI pipeline runs, as separate ``hubkit`` processes (start-up,
imports, load + validate of the whole fleet included), with the fleet and its
build/ on a normal disk directory (default /var/tmp; the page cache is warm,
as it is right after a clone):

  (full)  ``hubkit render --all`` into an empty build/          target <= 3 s
  (check) ``hubkit render --check --all`` with nothing changed   target <= 1.5 s
  (one)   ``hubkit render --all`` after one hub file changed     target <= 1.5 s,
          and only that hub's tree is rewritten (checked: the other trees keep
          their inode, the changed hub's tree is new)

Baselines, measured in the same run: (b) a bare Jinja2 loop rendering the same
templates with the same prepared contexts (no validation, manifest, writes);
(fs) a bare Python loop making the same directories and files (same sizes) on
the same disk: the filesystem's own floor for the full render.
Each figure is printed with its ratio to (b).  ``--tmpfs`` adds the full
render with the fleet on /dev/shm, labelled as such.  The fleet comes from
bench/validate_fleet.py's generator.

    .venv/bin/python bench/render_fleet.py [--hubs N] [--repeat R] [--dir DIR] [--tmpfs]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hubkit.fleet.repo import load_fleet
from hubkit.paths import TEMPLATES
from hubkit.render import hub_context
from hubkit.render.env import environment
from hubkit.render.targets import expand

HUBKIT = [str(Path(sys.executable).with_name("hubkit"))]


def _generator():
    spec = importlib.util.spec_from_file_location("validate_fleet", Path(__file__).with_name("validate_fleet.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


def _cli(root: Path, *args: str, want_rc: int = 0) -> float:
    env = {**os.environ, "CI": "true"}  # no progress bar
    t0 = time.perf_counter()
    p = subprocess.run([*HUBKIT, "--fleet", str(root), *args], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != want_rc:
        raise SystemExit(f"hubkit {' '.join(args)} exited {p.returncode}: {p.stderr[-2000:]}")
    return dt


def _inodes(build: Path) -> dict[str, int]:
    return {d.name: d.stat().st_ino for d in build.iterdir() if not d.name.startswith(".")}


def _bare_loop(root: Path):
    """(b): the same templates and contexts, rendered in a plain loop."""
    fleet = load_fleet(root)
    contexts = []
    for rec in fleet.select([]):
        ctx = hub_context(rec.model, root)
        contexts.append([(t.template, ctx if host is None else
                          {**ctx, "host": host, **({"segment": item} if item else {})})
                         for t, host, item, _ in expand(ctx)])
    env = environment(str(TEMPLATES))
    for items in contexts:  # warm-up: compile every template once
        for name, ctx in items:
            env.get_template(name).render(ctx)

    def run() -> float:
        t0 = time.perf_counter()
        for items in contexts:
            for name, ctx in items:
                env.get_template(name).render(ctx)
        return time.perf_counter() - t0
    return run, sum(len(c) for c in contexts)


def _fs_floor(build: Path, scratch: Path) -> float:
    """(fs): the directories and files of the rendered build/ (same paths, same sizes) made
    again by a bare Python loop on the same disk: what the filesystem alone costs."""
    dirs, files = [], []
    for dirpath, _dirs, names in os.walk(build):
        rel = os.path.relpath(dirpath, build)
        dirs.append(rel)
        files += [(os.path.join(rel, n), os.path.getsize(os.path.join(dirpath, n))) for n in names]
    shutil.rmtree(scratch, ignore_errors=True)
    t0 = time.perf_counter()
    for d in dirs:
        os.makedirs(scratch / d, exist_ok=True)
    for rel, size in files:
        with open(scratch / rel, "wb") as f:
            f.write(b"x" * size)
    dt = time.perf_counter() - t0
    shutil.rmtree(scratch)
    return dt


def _round(root: Path, hub_file: Path) -> dict[str, float]:
    build = root / "build"
    shutil.rmtree(build, ignore_errors=True)
    full = _cli(root, "render", "--all")
    check = _cli(root, "render", "--check", "--all")
    before = _inodes(build)
    original = hub_file.read_text()
    hub_file.write_text(original.replace("workplaces: ", "workplaces: 1", 1))
    try:
        one = _cli(root, "render", "--all")
    finally:
        hub_file.write_text(original)
    after = _inodes(build)
    changed = sorted(h for h in before if before[h] != after.get(h))
    if changed != [hub_file.stem]:
        raise SystemExit(f"expected only {hub_file.stem}'s tree to be rewritten, got {changed[:5]}")
    _cli(root, "render", "--all")  # back to the original for the next round
    return {"full": full, "check": check, "one": one, "fs": _fs_floor(build, root.parent / "fs-floor")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hubs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp", help="Normal-disk directory for the fleet (default /var/tmp).")
    ap.add_argument("--tmpfs", action="store_true", help="Also time the full render with the fleet on /dev/shm.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hubkit-bench-render-", dir=args.dir) as tmp:
        root = Path(tmp) / "fleet"
        paths = _generator()(root, args.hubs)
        bare, n_files = _bare_loop(root)
        rounds = []
        # Interleaved rounds: load on a shared machine changes by the minute,
        # so each round's figures and its baseline see similar conditions.
        for _ in range(args.repeat):
            r = _round(root, paths[len(paths) // 2])
            r["b"] = bare()
            rounds.append(r)
        shm = None
        if args.tmpfs and Path("/dev/shm").is_dir():
            with tempfile.TemporaryDirectory(prefix="hubkit-bench-render-", dir="/dev/shm") as stmp:
                sroot = Path(stmp) / "fleet"
                shutil.copytree(root, sroot, ignore=shutil.ignore_patterns("build"))
                shm = min(_cli(sroot, "render", "--all", "--force") for _ in range(args.repeat))
    best = {k: min(r[k] for r in rounds) for k in ("full", "check", "one", "b", "fs")}
    b = best["b"]
    print(f"hubs: {args.hubs}, template renders per full render: {n_files}, rounds: {args.repeat}, "
          f"disk: {args.dir}, CLI: {' '.join(HUBKIT)}")
    print(f"(full)  hubkit render --all, empty build/:        {best['full']:.3f} s  "
          f"({best['full'] / b:.2f}x b; target <= 3 s)")
    print(f"(check) hubkit render --check --all, no change:   {best['check']:.3f} s  "
          f"({best['check'] / b:.2f}x b; target <= 1.5 s)")
    print(f"(one)   hubkit render --all, one hub changed:     {best['one']:.3f} s  "
          f"({best['one'] / b:.2f}x b; target <= 1.5 s; only that hub's tree rewritten: yes)")
    print(f"(b)     bare Jinja2 loop, same templates/contexts: {b:.3f} s  (in-process, no writes)")
    print(f"(fs)    bare mkdir + write loop, the same {args.hubs} trees on {args.dir}: {best['fs']:.3f} s  "
          f"(the disk's floor for (full); full/fs {best['full'] / best['fs']:.2f})")
    if shm is not None:
        print(f"(tmpfs) hubkit render --all --force, fleet on /dev/shm: {shm:.3f} s  ({shm / b:.2f}x b)")
    for i, r in enumerate(rounds):
        print(f"  round {i}: full={r['full']:.3f} check={r['check']:.3f} one={r['one']:.3f} b={r['b']:.3f} "
              f"fs={r['fs']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
