"""Render validated hubs into reviewable build trees (``build/<id>/``).

Flow per hub: context (plain data from the Hub model and ``hubkit.topology``)
-> every target's template -> placeholder guard -> manifest -> atomic swap.
Validation runs first for all selected hubs; any finding stops the render
before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from hubkit import __version__
from hubkit.digest import file_hash, tree_hash
from hubkit.errors import FindingsError, HubkitError, UsageError
from hubkit.model import Hub
from hubkit.paths import TEMPLATES
from hubkit.render import tree
from hubkit.render.context import build_context, hub_input_hash
from hubkit.render.env import RenderError, render_context, render_template
from hubkit.render.inventory import add_inventory
from hubkit.render.targets import expand

log = logging.getLogger(__name__)

BUILD_DIR = "build"
# Jinja markers that may survive into hosts/** (Ansible resolves them at deploy time).
_MARKER = re.compile(r"\{\{|\{%|\{#")
_ALLOWED = re.compile(r"\{\{ (vault_[a-z0-9_]+|hubkit_vpn_peer_public_key) \}\}")

__all__ = ["HubResult", "RenderError", "render_files", "render_fleet", "check_fleet", "diff_hub",
           "hub_context", "fingerprint"]


@dataclass
class HubResult:
    hub: str
    path: str
    files: int
    changed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    input_hash: str = ""
    written: bool = False
    # The tree on disk was rendered from exactly these inputs and is intact: not rendered again.
    skipped: bool = False

    @property
    def differs(self) -> bool:
        return bool(self.changed or self.new or self.missing)

    def as_dict(self) -> dict:
        return {"hub": self.hub, "path": self.path, "files": self.files, "changed": self.changed,
                "new": self.new, "missing": self.missing, "hash": self.input_hash,
                "written": self.written, "skipped": self.skipped}


_CODE = Path(__file__).resolve().parent


@lru_cache(maxsize=8)
def fingerprint(template_dir: Path = TEMPLATES) -> str:
    """What feeds every hub's tree besides the hub itself: hubkit's version, the
    templates and the code that turns a model into files.  Any change to one of
    them changes every hub's input hash, so no stale tree is ever skipped."""
    parts = {"hubkit": __version__, "templates": tree_hash(Path(template_dir)),
             "render_code": tree_hash(_CODE, suffixes=(".py",)),
             "topology": file_hash(_CODE.parent / "topology.py")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _public_key(fleet_root: Path | None, hub_id: str) -> str | None:
    from hubkit.secrets import read_public_key
    return read_public_key(fleet_root, hub_id) if fleet_root is not None else None


def hub_context(hub: Hub, fleet_root: Path | None, template_dir: Path = TEMPLATES) -> dict:
    ctx = build_context(hub, _public_key(fleet_root, hub.id), fingerprint(Path(template_dir)))
    add_inventory(ctx)
    return ctx


def _up_to_date(rec, fleet_root: Path, root: Path, template_dir: Path) -> HubResult | None:
    """The hub's result when ``root/<id>`` is an intact render of exactly its current inputs.

    The manifest records the input hash of the render that wrote it; the
    files are checked against the manifest's sha256, so a hand edit inside
    build/ is never mistaken for an up-to-date tree.
    """
    target = root / rec.id
    manifest = tree.read_manifest(target)
    if manifest is None:
        return None
    h = hub_input_hash(rec.model, _public_key(fleet_root, rec.id), fingerprint(Path(template_dir)))
    if manifest.get("input_hash") != h or not tree.intact(target, manifest.get("files") or {}):
        return None
    return HubResult(rec.id, str(target), len(manifest["files"]) + 1, input_hash=h, skipped=True)


def _guard(path: str, text: str, hub_id: str) -> None:
    """Host files go through ansible.builtin.template: only known placeholders may remain."""
    for m in _MARKER.finditer(text):
        if not _ALLOWED.match(text, m.start()):
            line = text.count("\n", 0, m.start()) + 1
            raise RenderError(
                f"{hub_id}/{path}:{line}:1: unexpected Jinja marker {m.group()!r} in a host file "
                f"(hub {hub_id})",
                "host files may only contain {{ vault_* }} and {{ hubkit_vpn_peer_public_key }}; "
                "resolve everything else at render time")


def render_files(ctx: dict, template_dir: Path = TEMPLATES) -> dict[str, bytes]:
    """Every file of one hub's tree, manifest included (relative path -> bytes)."""
    hub_id = ctx["hub"]["id"]
    files: dict[str, bytes] = {}
    base = render_context(template_dir, ctx)
    for target, host, item, path in expand(ctx):
        local = base
        if host is not None:
            local = {**base, "host": host}
            if item is not None:
                local["segment"] = item
        text = render_template(template_dir, target.template, local, hub_id, shared=True)
        if path.startswith("hosts/"):
            _guard(path, text, hub_id)
        files[path] = text.encode()
    files[tree.MANIFEST] = tree.manifest_bytes(files, __version__, ctx["input_hash"])
    return files


def _out_root(fleet, out: Path | None) -> Path:
    return Path(out) if out is not None else Path(fleet.root) / BUILD_DIR


def _select(fleet, ids, all_hubs: bool):
    if ids and all_hubs:
        raise UsageError("give hub IDs or --all, not both", "e.g. `hubkit render zeitz` or `hubkit render --all`")
    if not ids and not all_hubs:
        raise UsageError("no hubs selected", "name hub IDs or pass --all")
    return fleet.select(list(ids))


def _validated(fleet, ids, all_hubs):
    from hubkit.rules import validate
    recs = _select(fleet, ids, all_hubs)
    found = validate(fleet, [r.id for r in recs])
    if found:
        raise FindingsError(found)
    return recs


Progress = Callable[[str], None]


# Below this many hubs a worker pool costs more than it saves.
PARALLEL_MIN = 32


def _render_one(rec, fleet_root: Path, root: Path, template_dir: Path) -> HubResult:
    res, files, _disk = _compare_one(rec, fleet_root, root, template_dir)
    if res.differs:
        tree.write_tree(Path(res.path), files, clean=False)  # render_fleet ran recover_root
        res.written = True
    return res


# The forked workers inherit the job (the loaded fleet) instead of pickling it.
_JOB: tuple | None = None


def _job(hub_id: str) -> tuple:
    """(hub record, fleet root, build root, template dir) of one hub of the current job."""
    recs, fleet_root, root, template_dir = _JOB
    return recs[hub_id], fleet_root, root, template_dir


def _work(hub_id: str):
    try:
        return "ok", _render_one(*_job(hub_id))
    except HubkitError as e:  # exceptions lose their hint when pickled; send the parts
        return "error", type(e).__name__, e.message, e.hint


def _check_work(hub_id: str):
    return _up_to_date(*_job(hub_id))


def _workers(n_hubs: int) -> int:
    if n_hubs < PARALLEL_MIN or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(os.cpu_count() or 1, 8)


def _in_workers(task, recs, fleet_root: Path, root: Path, template_dir: Path, n: int, chunksize: int):
    """``task(hub_id)`` for each of ``recs``, in order, from ``n`` forked workers."""
    global _JOB
    _JOB = ({r.id: r for r in recs}, fleet_root, root, template_dir)
    try:
        with multiprocessing.get_context("fork").Pool(n) as pool:
            yield from pool.imap(task, [r.id for r in recs], chunksize=chunksize)
    finally:
        _JOB = None


def _up_to_date_all(recs, fleet_root: Path, root: Path, template_dir: Path) -> list:
    """``_up_to_date`` of each hub; a large fleet's ~70k file hashes in forked workers."""
    n = _workers(len(recs))
    if n == 1:
        return [_up_to_date(rec, fleet_root, root, template_dir) for rec in recs]
    return list(_in_workers(_check_work, recs, fleet_root, root, template_dir, n, chunksize=32))


def _split(recs, fleet_root: Path, root: Path, template_dir: Path, force: bool, progress):
    """(results of hubs whose trees are up to date, hubs to render or compare)."""
    done: dict[str, HubResult] = {}
    todo = []
    current = [None] * len(recs) if force else _up_to_date_all(recs, fleet_root, root, template_dir)
    for rec, res in zip(recs, current):
        if res is None:
            todo.append(rec)
            continue
        done[rec.id] = res
        if progress:
            progress(rec.id)
    return done, todo


def render_fleet(fleet, ids=(), all_hubs: bool = False, out: Path | None = None,
                 template_dir: Path = TEMPLATES, progress: Progress | None = None,
                 force: bool = False) -> list[HubResult]:
    """Validate the selected hubs, then render each into ``<out>/<id>/`` (atomic per hub).

    A hub whose tree was rendered from the same inputs and is intact is
    skipped without rendering (``force`` renders every hub).  A rendered tree
    identical to the one on disk is left untouched.  Large selections render
    in forked worker processes, one hub per task; each hub's tree is still
    swapped in atomically.
    """
    t0 = time.perf_counter()
    recs = _validated(fleet, ids, all_hubs)
    t1 = time.perf_counter()
    log.info("validated %d hub(s) in %.3f s", len(recs), t1 - t0)
    root = _out_root(fleet, out)
    tree.recover_root(root, [r.id for r in recs])
    results, todo = _split(recs, fleet.root, root, template_dir, force, progress)
    t2 = time.perf_counter()
    log.info("%d hub(s) up to date (input hash and files checked) in %.3f s", len(results), t2 - t1)
    n = _workers(len(todo))
    if n == 1:
        for rec in todo:
            if progress:
                progress(rec.id)
            results[rec.id] = _render_one(rec, fleet.root, root, template_dir)
    else:
        root.mkdir(parents=True, exist_ok=True)
        items = _in_workers(_work, todo, fleet.root, root, template_dir, n, chunksize=8)
        try:
            for rec, item in zip(todo, items):
                if item[0] == "error":
                    raise RenderError(item[2], item[3])
                if progress:
                    progress(rec.id)
                results[rec.id] = item[1]
        finally:
            items.close()  # ends the pool and the job, on an error too
    log.info("rendered %d hub(s) in %.3f s with %d process(es)", len(todo),
             time.perf_counter() - t2, n)
    return [results[r.id] for r in recs]


def check_fleet(fleet, ids=(), all_hubs: bool = False, out: Path | None = None,
                template_dir: Path = TEMPLATES, force: bool = False) -> list[HubResult]:
    """Compare fresh renders with the trees on disk; writes nothing.

    Hubs whose trees are intact renders of their current inputs are not
    rendered again (``force`` compares every hub with a fresh render).
    """
    recs = _validated(fleet, ids, all_hubs)
    root = _out_root(fleet, out)
    results, todo = _split(recs, fleet.root, root, template_dir, force, None)
    for rec in todo:
        results[rec.id] = _compare_one(rec, fleet.root, root, template_dir)[0]
    return [results[r.id] for r in recs]


def _compare_one(rec, fleet_root: Path, root: Path, template_dir: Path):
    """A fresh render of one hub against ``root/<id>``: (result, fresh files, files on disk)."""
    ctx = hub_context(rec.model, fleet_root, template_dir)
    files = render_files(ctx, template_dir)
    target = root / rec.id
    disk = tree.read_tree(target)
    res = HubResult(rec.id, str(target), len(files), input_hash=ctx["input_hash"], **tree.compare(files, disk))
    return res, files, disk


def diff_hub(fleet, hub_id: str, out: Path | None = None,
             template_dir: Path = TEMPLATES) -> tuple[HubResult, str]:
    """A unified diff of a fresh render of one hub against what is on disk."""
    import difflib
    [rec] = _validated(fleet, [hub_id], False)
    res, files, disk = _compare_one(rec, fleet.root, _out_root(fleet, out), template_dir)
    chunks = []
    for p in sorted(set(res.changed) | set(res.new) | set(res.missing)):
        old = disk.get(p, b"").decode(errors="replace").splitlines(keepends=True)
        new = files.get(p, b"").decode(errors="replace").splitlines(keepends=True)
        a = f"a/{p}" if p in disk else "/dev/null"
        b = f"b/{p}" if p in files else "/dev/null"
        chunks.extend(difflib.unified_diff(old, new, a, b))
    text = "".join(chunks)
    if text and not text.endswith("\n"):
        text += "\n"
    return res, text
