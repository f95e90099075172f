"""Content hashes of files and trees: one definition for every input hash."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_hash(path: Path) -> str | None:
    """sha256 of a file's bytes; None when it does not exist."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def tree_hash(root: Path, skip=("__pycache__",), suffixes: tuple[str, ...] = ()) -> str:
    """sha256 over every file's relative path and content, in sorted order.

    Compiled Python and the ``skip`` directories never count; ``suffixes``
    limits the files to those endings.
    """
    h = hashlib.sha256()
    root = Path(root)
    if not root.exists():
        return "absent"
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or p.name.endswith(".pyc") or any(s in rel.parts for s in skip):
            continue
        if suffixes and not p.name.endswith(suffixes):
            continue
        h.update(str(rel).encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
