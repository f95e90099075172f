"""Import the Pulumi program package ``stacks/hub/hubstack`` from hubkit.

The Pulumi CLI imports it from ``stacks/hub`` (its working directory); hubkit
loads the same files by path so there is one program, not two.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from hubkit.paths import STACKS

STACK_DIR = STACKS / "hub"
PACKAGE = "hubstack"


def load_program(stack_dir: Path = STACK_DIR):
    """Return the ``hubstack`` package (imported once per process)."""
    mod = sys.modules.get(PACKAGE)
    if mod is not None:
        return mod
    path = str(stack_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(PACKAGE)
