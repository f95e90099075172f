"""The installed package: a wheel built from this checkout, installed with no extras into a
fresh virtualenv outside it, run from a directory that is not the checkout.  This is what
`pip install hubkit` (or pipx) gives a user.  tests/conftest.py builds it once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_checked(cmd, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def build_wheel(out: Path) -> Path:
    run_checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
                 "-w", out, REPO])
    [whl] = Path(out).glob("hubkit-*.whl")
    return whl


def make_venv(wheel: Path, env: Path) -> Path:
    """A fresh virtualenv with the wheel and its declared dependencies only (no extras)."""
    # The machine's own Python, not this test venv's: nothing leaks in from the checkout's .venv.
    base = Path(getattr(sys, "_base_executable", sys.executable))
    run_checked([base, "-m", "venv", env])
    run_checked([env / "bin/pip", "install", "-q", "--disable-pip-version-check", wheel])
    return env


def run_installed(venv: Path, cwd: Path, *args: str, tool: str = "hubkit", env: dict | None = None,
                  check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the installed `hubkit` (or another tool of its venv) in ``cwd``, with nothing of the
    checkout's environment (no PYTHON*, VIRTUAL_ENV or HUBKIT_* variables) but ``env``."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "HUBKIT_"))}
    e["PATH"] = f"{venv / 'bin'}:{e.get('PATH', '/usr/bin:/bin')}"
    e.update(env or {})
    p = subprocess.run([str(venv / "bin" / tool), *map(str, args)], cwd=cwd, env=e, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p
