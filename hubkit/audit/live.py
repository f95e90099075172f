"""Live evidence: the verify checks the suites define, and what the last verify run made of them.

The registry is read from the suites' source (``@pytest.mark.bsi`` on each
``test_*`` function under playbooks/), so the audit knows which live check
exists for a row even when none ran: a row then says which one it is waiting
for.  A check's id is ``<suite>::<test>`` as in verify.json.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from hubkit.audit.model import LIVE, Evidence, LiveCheck
from hubkit.paths import PLAYBOOKS

# The whole verify run as one item: the actual state compared with the plan (row 26).
PLAN_VS_ACTUAL = LiveCheck("verify::plan_vs_actual", ("NET.1.1.A15",),
                           "every verify check: addresses, services, firewall and traffic as planned")
# A skip whose message starts so means the check does not apply to this hub or host
# (hubkit.verify.plugin.not_applicable); any other skip means it could not be shown here.
NOT_APPLICABLE = "not applicable: "


def _bsi_args(dec) -> tuple[str, ...] | None:
    if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "bsi":
        return tuple(a.value for a in dec.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return None


def _suite_checks(path: Path, suite: str) -> list[LiveCheck]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            tags = next((t for d in node.decorator_list if (t := _bsi_args(d)) is not None), ())
            doc = (ast.get_docstring(node) or "").strip().splitlines()
            out.append(LiveCheck(f"{suite}::{node.name}", tags, doc[0] if doc else ""))
    return out


@lru_cache(maxsize=1)
def _all_suites() -> tuple[tuple[str, tuple[LiveCheck, ...]], ...]:
    found = []
    for f in sorted((PLAYBOOKS / "roles").glob("*/verify/test_*.py")):
        found.append((f.parent.parent.name, tuple(_suite_checks(f, f.stem.removeprefix("test_")))))
    for f in sorted((PLAYBOOKS / "probes").glob("test_*.py")):
        found.append(("hub", tuple(_suite_checks(f, f.stem.removeprefix("test_")))))
    return tuple(found)


def registry(roles: set[str] | None = None) -> list[LiveCheck]:
    """Every live check, or those that run on a hub whose hosts have ``roles``.

    Role suites run on the hosts of their role (hubkit.verify.ROLE_SUITES); the
    hub-wide probes always run.
    """
    from hubkit.verify import ROLE_SUITES
    suites = None if roles is None else {s for r in roles for s in ROLE_SUITES.get(r, ())}
    out = [PLAN_VS_ACTUAL]
    for owner, checks in _all_suites():
        if suites is None or owner == "hub" or owner in suites:
            out.extend(checks)
    return sorted(set(out), key=lambda c: c.id)


def evidence(verify: dict) -> list[Evidence]:
    """Evidence items from a verify result (verify.json): every check, skipped ones with their reason."""
    out = []
    checks = verify.get("checks", [])
    ran = [c for c in checks if c.get("status") != "skipped"]
    if ran:
        bad = [c for c in ran if c.get("status") != "passed"]
        hosts = sorted({c.get("host", "") for c in ran})
        out.append(Evidence("verify:plan_vs_actual", LIVE, not bad, "actual state compared with the rendered plan",
                            f"{len(ran)} checks on {len(hosts)} host(s) compared addresses, services, firewall "
                            "and traffic with the plan" + (f"; {len(bad)} differ" if bad else "; no difference"),
                            ".hubkit/runs/<id>/verify.json", PLAN_VS_ACTUAL.tags, PLAN_VS_ACTUAL.id))
    for c in checks:
        host, cid = c.get("host", ""), c.get("id", "")
        msg = (c.get("message") or "")[:500]
        skipped = msg or "skipped" if c.get("status") == "skipped" else ""
        out.append(Evidence(f"verify:{host}:{cid}", LIVE, c.get("status") == "passed", cid, msg,
                            f"verify {host} {cid}", tuple(c.get("bsi") or ()), cid, skipped=skipped,
                            applies=not skipped.startswith(NOT_APPLICABLE)))
    return out
