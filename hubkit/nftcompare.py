"""A loaded nftables ruleset against its rendered file, compared semantically (verify suites).

The rendered file is loaded into a throwaway network namespace on the
controller; both rulesets are listed as JSON (``nft -j``), normalised
(handles, counter values and metainfo dropped) and compared.  A difference is
described by the lines of ``nft -s list ruleset`` that are missing or extra.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


def normalise(doc: dict) -> list:
    """Drop what changes at run time (handles, counter values, metainfo)."""
    def strip(o):
        if isinstance(o, dict):
            out = {}
            for k, v in o.items():
                if k == "handle":
                    continue
                out[k] = {} if k == "counter" else strip(v)
            return out
        if isinstance(o, list):
            return [strip(x) for x in o]
        return o
    return [strip(o) for o in doc.get("nftables", []) if "metainfo" not in o]


def lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def load_rendered(path: Path) -> tuple[list, list[str]]:
    """(normalised JSON, text lines) of a rendered ruleset; ValueError when it does not load."""
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "-r", "--net"]
    script = 'nft -f "$1" && nft -j list ruleset && echo "=====" && nft -s list ruleset'
    r = subprocess.run([*unshare, "sh", "-c", script, "_", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        raise ValueError(r.stderr.strip())
    js, _, text = r.stdout.partition("=====")
    return normalise(json.loads(js)), lines(text)


def difference(want: tuple[list, list[str]], got: tuple[list, list[str]]) -> str | None:
    """None when the rulesets are equal, else which lines are missing and extra."""
    (want_js, want_text), (got_js, got_text) = want, got
    if got_js == want_js:
        return None
    missing = [line for line in want_text if line not in got_text]
    extra = [line for line in got_text if line not in want_text]
    detail = []
    if missing:
        detail.append(f"{len(missing)} rendered line(s) missing: " + "; ".join(missing[:8]))
    if extra:
        detail.append(f"{len(extra)} extra line(s): " + "; ".join(extra[:8]))
    return " | ".join(detail) or "the same lines in another order"
