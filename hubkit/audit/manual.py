"""The evidence a person attaches for the rows hubkit cannot show: ``audit/<id>/manual.yaml``.

The first audit writes the form with one empty entry per item (per physical
workstation, or one for the hub); a person fills in who checked, when, what
they found and where the document is kept, and re-runs `hubkit audit`.  The
report then shows each item as filled or still open.  The file is input: an
audit never overwrites it.  A wrong key, type or date is an error naming
``file:line:col``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from hubkit.errors import ConfigError, Finding, Origin

FORM = "manual.yaml"
FIELDS = ("who", "when", "what")


class Entry(BaseModel):
    """One attached piece of evidence: all of who, when and what, or none of them (still open)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str                       # the workstation's name, or "hub"
    who: str | None = None          # the person who checked (name and role)
    when: dt.date | None = None     # the day they checked, YYYY-MM-DD
    what: str | None = None         # what they found, in their words
    where: str | None = None        # where the signed record is kept (optional)

    @field_validator("who", "what", "where")
    @classmethod
    def _blank_is_none(cls, v):
        return v.strip() or None if isinstance(v, str) else v

    @property
    def filled(self) -> bool:
        return all(getattr(self, f) is not None for f in FIELDS)


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: dict[int, list[Entry]] = {}


def form_path(fleet_root: Path, hub_id: str) -> Path:
    return Path(fleet_root) / "audit" / hub_id / FORM


def items_for(spec, hub) -> list[str]:
    return sorted(w.hostname for w in hub.workstations) if spec.manual.per == "workstation" else ["hub"]


def template(hub_id: str, specs, hub) -> str:
    """The empty form for the manual rows that apply to ``hub``."""
    lines = [f"# Evidence a person attaches for hub {hub_id}: the audit cannot observe these.",
             "# For each item fill in who (name, role), when (YYYY-MM-DD), what was found, and optionally",
             f"# where the signed record is kept; then run `hubkit audit {hub_id}` again.",
             "# An item stays open (manual, not filled) until who, when and what are all set.", "rows:"]
    for spec in specs:
        lines += [f"  # {spec.num}. {spec.title}", f"  # attach: {spec.manual.evidence}", f"  {spec.num}:"]
        for item in items_for(spec, hub):
            lines += [f"    - item: {item}", "      who:", "      when:", "      what:", "      where:"]
    return "\n".join(lines) + "\n"


def _error(path: str, origin: Origin | None, message: str, hint: str) -> ConfigError:
    return ConfigError(Finding("HK301", message, origin or Origin(path, 1, 1), hint))


def load(path: Path, display: str, specs, hub) -> dict[int, list[Entry]]:
    """The filled form, checked against the manual rows and items of ``hub``.  ConfigError on bad input."""
    from hubkit.fleet.merge import locate
    from hubkit.fleet.yamlload import load_file, plain
    tree = load_file(path, display)
    try:
        form = Form.model_validate(plain(tree))
    except ValidationError as e:
        err = e.errors()[0]
        loc = list(err["loc"])
        raise _error(display, locate(tree, loc), f"{'.'.join(map(str, loc))}: {err['msg']}",
                     "each entry has item, who, when (YYYY-MM-DD), what and optionally where") from None
    by_num = {s.num: s for s in specs}
    today = dt.date.today()
    for num, entries in form.rows.items():
        if num not in by_num:
            raise _error(display, locate(tree, ["rows", num]), f"row {num} needs no manual evidence for hub {hub.id}",
                         f"manual rows here: {', '.join(str(n) for n in sorted(by_num))}")
        known = items_for(by_num[num], hub)
        for i, e in enumerate(entries):
            where = locate(tree, ["rows", num, i])
            if e.item not in known:
                raise _error(display, where, f"row {num}: {e.item!r} is not an item of this row",
                             f"one of: {', '.join(known)}")
            given = [f for f in FIELDS if getattr(e, f) is not None]
            if given and len(given) < len(FIELDS):
                missing = [f for f in FIELDS if f not in given]
                raise _error(display, where, f"row {num}, {e.item}: {', '.join(missing)} missing",
                             "fill in who, when and what, or leave all three empty (still open)")
            if e.when is not None and e.when > today:
                raise _error(display, locate(tree, ["rows", num, i, "when"]),
                             f"row {num}, {e.item}: date {e.when} is in the future", "the day it was checked")
    return dict(form.rows)


def state(spec, hub, entries: list[Entry]) -> dict:
    """What the report shows of one manual row: which items are filled, which are open."""
    filled = {e.item: e for e in entries if e.filled}
    items = items_for(spec, hub)
    return {"evidence": spec.manual.evidence, "per": spec.manual.per,
            "filled": [{"item": i, "who": filled[i].who, "when": filled[i].when.isoformat(),
                        "what": filled[i].what, "where": filled[i].where} for i in items if i in filled],
            "open": [i for i in items if i not in filled],
            "filled_text": [f"{len([i for i in items if i in filled])} of {len(items)} item(s) filled"]}


def read(fleet_root: Path, hub_id: str, specs, hub) -> tuple[dict[int, list[Entry]], str | None]:
    """(the form's entries, the empty form to write when there is none yet)."""
    path = form_path(fleet_root, hub_id)
    if not path.is_file():
        return {}, template(hub_id, specs, hub)
    return load(path, f"audit/{hub_id}/{FORM}", specs, hub), None


def fingerprint(fleet_root: Path, hub_id: str) -> str | None:
    """A hash of what was filled in (None for no form or an empty one): `open` re-audits when it
    changes, and not merely because the first audit wrote the empty form."""
    import hashlib
    import json

    import yaml
    path = form_path(fleet_root, hub_id)
    try:
        text = path.read_text(encoding="utf-8")
        doc = yaml.safe_load(text) or {}
        rows = doc.get("rows") or {}
        filled = sorted(json.dumps(e, sort_keys=True, default=str) for es in rows.values() for e in (es or [])
                        if isinstance(e, dict) and any(e.get(k) for k in (*FIELDS, "where")))
    except FileNotFoundError:
        return None
    except (yaml.YAMLError, AttributeError, TypeError, ValueError):
        return hashlib.sha256(path.read_bytes()).hexdigest()  # unreadable: the audit will say where
    return hashlib.sha256("\n".join(filled).encode()).hexdigest() if filled else None
