"""Build trees on disk: manifest, atomic swap, leftovers of an interrupted swap, comparison.

A hub's tree is rendered completely into ``.<id>.tmp-*`` beside the target,
then swapped in with one ``renameat2(RENAME_EXCHANGE)``, so ``<out>/<id>``
is at every moment either the complete previous tree or the complete new
one.  Where the exchange is unsupported, it falls back to rename-aside +
rename-in; a kill between them leaves ``.<id>.old``, which the next run puts
back (``recover``).  No fsync: a killed process loses nothing from the page
cache, and renders are cheap to repeat after a power cut.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from hubkit.errors import HubkitError

MANIFEST = "manifest.json"
_WFLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _renameat2 = _libc.renameat2
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _renameat2 = None


def manifest_bytes(files: dict[str, bytes], version: str, input_hash: str) -> bytes:
    doc = {"files": {p: hashlib.sha256(b).hexdigest() for p, b in sorted(files.items())},
           "hubkit_version": version, "input_hash": input_hash}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories; False when the kernel/filesystem cannot."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def recover(target: Path) -> None:
    """Clean up after an interrupted run: restore ``.<id>.old``, drop temp trees."""
    parent, name = target.parent, target.name
    if not parent.is_dir():
        return
    old = parent / f".{name}.old"
    if old.exists():
        if not target.exists():
            os.rename(old, target)  # killed between rename-aside and rename-in
        else:
            shutil.rmtree(old, ignore_errors=True)
    for p in parent.glob(f".{name}.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)


def recover_root(root: Path, ids) -> None:
    """``recover`` for many hubs with one directory scan (not one glob per hub)."""
    root = Path(root)
    if not root.is_dir():
        return
    wanted = set(ids)
    for name in sorted(os.listdir(root)):
        if not name.startswith("."):
            continue
        hub = name[1:-4] if name.endswith(".old") else name[1:].split(".tmp-", 1)[0]
        if hub in wanted:
            recover(root / hub)


def write_tree(target: Path, files: dict[str, bytes], clean: bool = True) -> None:
    """Write ``files`` (relative path -> bytes) as the complete tree at ``target``.

    ``clean=False`` skips ``recover`` when the caller already ran ``recover_root``.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if clean:
            recover(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as e:
        raise HubkitError(f"cannot write {target}: {e.strerror}",
                          "check that the output directory is writable") from None
    try:
        dirs: set[str] = set()
        for rel in files:
            d = os.path.dirname(rel)
            while d and d not in dirs:
                dirs.add(d)
                d = os.path.dirname(d)
        # Raw fds relative to the temp dir: ~60k small files per 1,000 hubs, so
        # Python file objects and full path lookups were a visible share.
        dfd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for d in sorted(dirs):  # parents sort before children: one mkdir each
                os.mkdir(d, dir_fd=dfd)
            for rel, data in files.items():
                fd = os.open(rel, _WFLAGS, 0o644, dir_fd=dfd)
                try:
                    n = os.write(fd, data)
                    while n < len(data):  # short writes are rare; never leave a truncated file
                        n += os.write(fd, data[n:])
                finally:
                    os.close(fd)
        finally:
            os.close(dfd)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; the tree is for review, not secret
        if not target.exists():
            os.rename(tmp, target)
        elif _exchange(tmp, target):
            shutil.rmtree(tmp)  # now holds the previous tree
        else:
            old = target.parent / f".{target.name}.old"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise HubkitError(f"cannot write {target}: {e.strerror}",
                          "check free space and permissions of the output directory") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes); empty when absent."""
    out: dict[str, bytes] = {}
    root = Path(root)
    if not root.is_dir():
        return out
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


def compare(fresh: dict[str, bytes], disk: dict[str, bytes]) -> dict[str, list[str]]:
    """Differences of a fresh render against the tree on disk."""
    return {
        "changed": sorted(p for p in fresh if p in disk and disk[p] != fresh[p]),
        "new": sorted(p for p in fresh if p not in disk),
        "missing": sorted(p for p in disk if p not in fresh),
    }


def read_manifest(root: Path) -> dict | None:
    """The manifest of the tree at ``root``; None when absent or unreadable."""
    try:
        doc = json.loads((Path(root) / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("files"), dict) else None


def _count_files(root) -> int:
    """Non-directory entries under ``root``.  scandir's d_type, not os.walk: os.walk lstats
    every directory (~100 per hub tree) and costs a re-check of 1,000 hubs about a second."""
    n, stack = 0, [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    n += 1
    return n


def intact(root: Path, listed: dict[str, str]) -> bool:
    """True when the files under ``root`` are exactly ``listed`` (plus the
    manifest), each with its listed sha256.

    Raw fds relative to the tree: a re-check of 1,000 hubs reads ~60k files.
    """
    try:
        if _count_files(root) != len(listed) + 1:
            return False
        dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for rel, want in listed.items():
                if rel.startswith("/") or ".." in rel.split("/"):
                    return False  # a manifest never names a path outside its tree
                fd = os.open(rel, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0), dir_fd=dfd)
                try:
                    h = hashlib.sha256()
                    while chunk := os.read(fd, 1 << 16):
                        h.update(chunk)
                finally:
                    os.close(fd)
                if h.hexdigest() != want:
                    return False
        finally:
            os.close(dfd)
    except OSError:
        return False
    return True


def verify_manifest(root: Path) -> list[str]:
    """Problems of a tree against its own manifest (empty list: complete and intact)."""
    files = read_tree(root)
    if MANIFEST not in files:
        return [f"{MANIFEST} missing"]
    listed = json.loads(files.pop(MANIFEST))["files"]
    problems = [f"missing {p}" for p in sorted(set(listed) - set(files))]
    problems += [f"unlisted {p}" for p in sorted(set(files) - set(listed))]
    problems += [f"hash mismatch {p}" for p in sorted(set(files) & set(listed))
                 if hashlib.sha256(files[p]).hexdigest() != listed[p]]
    return problems
