"""Benchmark: validate + render a generated fleet of N hubs (default 1,000).

(a) hubkit's own path: load + validate the fleet, then ``render --all`` into a
    fresh temp out dir (contexts, templates, placeholder guard, manifest,
    atomic swap per hub);
    (a1 repeats (a) in one process, without the worker pool, for comparison);
(b) a bare Jinja2 loop rendering the same templates with the same prepared
    contexts (no validation, manifest, writes or swap).
Prints both, and a/b.  Targets on the project's 2-core machine: (a) <= 3 s,
a/b <= 2.0.  The fleet comes from bench/validate_fleet.py's generator.

    .venv/bin/python bench/render_fleet.py [--hubs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import shutil
import tempfile
import time
from pathlib import Path

from hubkit.fleet.repo import load_fleet
from hubkit.paths import TEMPLATES
import hubkit.render as render
from hubkit.render import hub_context, render_fleet
from hubkit.render.env import environment
from hubkit.render.targets import expand


def _generator():
    spec = importlib.util.spec_from_file_location("validate_fleet", Path(__file__).with_name("validate_fleet.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


def _cpu() -> float:
    """CPU seconds (user + sys) of this process and its reaped children (the worker pool)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hubs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tmp", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                    help="Where the fleet and out dirs go (default: tmpfs /dev/shm, so the figure "
                         "is hubkit's cost, not the disk's; pass e.g. /tmp to include the disk).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hubkit-bench-render-", dir=args.tmp) as tmp:
        root = Path(tmp) / "fleet"
        _generator()(root, args.hubs)

        # Warm-up: compile every template once (both paths share the cache).
        fleet = load_fleet(root)
        contexts = []
        for rec in fleet.select([]):
            ctx = hub_context(rec.model, root)
            contexts.append([(t.template, ctx if host is None else
                              {**ctx, "host": host, **({"segment": item} if item else {})})
                             for t, host, item, _ in expand(ctx)])
        env = environment(str(TEMPLATES))
        n_files = sum(len(c) for c in contexts)

        def hubkit_run(i, sequential=False):
            out = Path(tmp) / f"out{i}{'s' if sequential else ''}"
            render.PARALLEL_MIN = 10**9 if sequential else parallel_min
            t0, c0 = time.perf_counter(), _cpu()
            fl = load_fleet(root)
            results = render_fleet(fl, (), True, out)
            dt, cpu = time.perf_counter() - t0, _cpu() - c0
            assert len(results) == args.hubs and all(r.written for r in results)
            shutil.rmtree(out)
            return dt, cpu

        def bare_run():
            t0, c0 = time.perf_counter(), _cpu()
            for items in contexts:
                for name, ctx in items:
                    env.get_template(name).render(ctx)
            return time.perf_counter() - t0, _cpu() - c0

        parallel_min = render.PARALLEL_MIN
        # Interleaved rounds: on a shared machine the load changes by the minute,
        # so each round's three figures see similar conditions; ratios are per round.
        rounds = []
        for i in range(args.repeat):
            rounds.append((hubkit_run(i), hubkit_run(i, True), bare_run()))
    a, a1, b = (min(r[k][0] for r in rounds) for k in range(3))
    ca, ca1, cb = (min(r[k][1] for r in rounds) for k in range(3))
    print(f"hubs: {args.hubs}, template renders per run: {n_files}, rounds: {args.repeat}")
    print(f"(a) hubkit validate + render --all: {a:.3f} s wall, {ca:.3f} s CPU  (best; target <= 3 s)")
    print(f"(a1) same, one process (no worker pool): {a1:.3f} s wall, {ca1:.3f} s CPU")
    print(f"(b) bare Jinja2 loop, same templates and contexts: {b:.3f} s wall, {cb:.3f} s CPU")
    print(f"a/b = {a / b:.2f}, a1/b = {a1 / b:.2f}  (best wall times; target a/b <= 2.0)")
    print(f"CPU: a/b = {ca / cb:.2f}, a1/b = {ca1 / cb:.2f}  (less sensitive to other load on the machine)")
    for i, ((ra, _), (ra1, _), (rb, _)) in enumerate(rounds):
        print(f"  round {i}: a={ra:.3f} a1={ra1:.3f} b={rb:.3f}  a/b={ra / rb:.2f} a1/b={ra1 / rb:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
