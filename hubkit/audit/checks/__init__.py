"""The audit's static checks: one function each, registered with the BSI ids it evidences.

A check reads what render produced (``Sources``: the build tree, its manifest,
the offline plan, run records) and yields ``Evidence`` naming the file and line
it looked at.  Adding a check is one decorated function in the module of its
area (firewall, hosts, network, records); the registry (``CHECKS``) is what
the audit runs and what the "every check can fail" test iterates over.

Rules of thumb:
- a feature rendered for no host at all yields *no* evidence (the row then says
  how to collect some), never a pass;
- a feature rendered but wrong, or missing on a host that needs it, yields a
  failing item;
- a check that cannot fail is a defect: tests/audit/test_checks_can_fail.py
  feeds each one a violating configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from hubkit.audit.model import Evidence
from hubkit.audit.sources import Sources


@dataclass(frozen=True)
class StaticCheck:
    id: str
    tags: tuple[str, ...]   # BSI ids: the rows the check's items link to (hubkit.audit.catalog)
    fn: Callable[[Sources], Iterator[Evidence]]

    def run(self, src: Sources) -> list[Evidence]:
        out = []
        for e in self.fn(src):
            if e.id != self.id and not e.id.startswith(self.id + ":"):
                raise ValueError(f"check {self.id} yielded evidence {e.id}: ids must start with the check's")
            out.append(replace(e, check=self.id, tags=e.tags or self.tags))
        return out


CHECKS: dict[str, StaticCheck] = {}


def check(check_id: str, *tags: str):
    """Register a static check under ``check_id``, linked to rows by the BSI ``tags``."""
    def reg(fn):
        if check_id in CHECKS:
            raise ValueError(f"static check {check_id} registered twice")
        CHECKS[check_id] = StaticCheck(check_id, tags, fn)
        return fn
    return reg


def run_all(src: Sources) -> list[Evidence]:
    return [e for c in CHECKS.values() for e in c.run(src)]


# The areas register their checks on import.
from hubkit.audit.checks import firewall, hosts, network, records  # noqa: E402,F401
