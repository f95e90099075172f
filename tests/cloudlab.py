"""What the lab modules that use the real cloud parts share: prerequisites and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HUBKIT = str(Path(sys.executable).with_name("hubkit"))


def prereqs() -> None:
    """Skip without root; fail (CI must have them) without the lab image, the engine or Keycloak."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("lab tests need root on Linux")
    from hubkit.cloud import provision
    from hubkit.lab import image, keycloak
    if image.current() is None or provision.cli_path() is None or not keycloak.cache_ready():
        pytest.fail("the lab image, the Pulumi engine and Keycloak are built by `bash .ci/setup --lab`")


def runner(env: dict, outputs: list[str]):
    """``hk(root, *args, check=False)``: the hubkit CLI with ``env``; every output kept in ``outputs``."""
    def hk(root, *args, check=False) -> subprocess.CompletedProcess:
        r = subprocess.run([HUBKIT, "--fleet", str(root), *args], capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL)
        outputs.append(r.stdout + r.stderr)
        if check and r.returncode != 0:
            raise AssertionError(f"hubkit {' '.join(args)} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r
    return hk
