"""The installed package: a wheel built from this checkout, installed with no
extras into a fresh virtualenv outside it, driven from a directory that is not
the checkout.  This is what `pip install hubkit` (or pipx) gives a user."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
          "-w", out, REPO])
    [whl] = out.glob("hubkit-*.whl")
    return whl


@pytest.fixture(scope="session")
def wheel_names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


@pytest.fixture(scope="session")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel and its declared dependencies only (no extras)."""
    env = tmp_path_factory.mktemp("venv") / "v"
    # The machine's own Python, not this test venv's: nothing leaks in from the checkout's .venv.
    base = Path(getattr(sys, "_base_executable", sys.executable))
    _run([base, "-m", "venv", env])
    _run([env / "bin/pip", "install", "-q", "--disable-pip-version-check", wheel])
    return env


@pytest.fixture
def outside(tmp_path) -> Path:
    """A working directory that is not the checkout."""
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def installed(venv, outside):
    """Run the installed `hubkit` (or another venv tool) from outside the checkout."""
    def run(*args: str, tool: str = "hubkit", env: dict | None = None, check: bool = True, timeout=900):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "HUBKIT_"))}
        e["PATH"] = f"{venv / 'bin'}:{e.get('PATH', '/usr/bin:/bin')}"
        e.update(env or {})
        p = subprocess.run([str(venv / "bin" / tool), *args], cwd=outside, env=e, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} exited {p.returncode}:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
        return p
    return run
