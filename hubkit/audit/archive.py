"""The audited build, archived with its manifest: ``builds/<input hash>.tar.gz`` in the audit directory.

One archive per audited build (the name is the render's input hash), so the
exact configuration every audit looked at can be restored and compared later.
The archive is deterministic (sorted members, no times or owners), so
auditing the same build twice gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path


def build_archive(build_dir: Path, hub_id: str, manifest: dict | None) -> tuple[bytes, dict]:
    """(archive bytes, its description for the evidence) of ``build/<id>/``."""
    files = sorted(p for p in Path(build_dir).rglob("*") if p.is_file())
    listed = (manifest or {}).get("files", {})
    problems = [] if manifest else ["build/{hub_id}/manifest.json is missing or unreadable".format(hub_id=hub_id)]
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen = set()
        for p in files:
            rel = p.relative_to(build_dir).as_posix()
            data = p.read_bytes()
            if rel != "manifest.json":
                seen.add(rel)
                if rel not in listed:
                    problems.append(f"{rel} is not in the manifest")
                elif hashlib.sha256(data).hexdigest() != listed[rel]:
                    problems.append(f"{rel} differs from its manifest hash")
            info = tarfile.TarInfo(f"{hub_id}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
        problems += [f"{rel} (in the manifest) is missing" for rel in sorted(set(listed) - seen)]
    data = raw.getvalue()
    key = str((manifest or {}).get("input_hash") or hashlib.sha256(data).hexdigest())[:16]
    return data, {"path": f"builds/{key}.tar.gz", "sha256": hashlib.sha256(data).hexdigest(),
                  "files": len(listed), "manifest_sha256": hashlib.sha256(
                      json.dumps(manifest or {}, sort_keys=True).encode()).hexdigest(),
                  "problems": problems}
