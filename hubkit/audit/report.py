"""The audit report as one self-contained HTML file.

Self-contained means: inline CSS, the topology SVG inlined, no scripts, no
external requests of any kind (no src/href to other files or hosts), so an
auditor can read it offline and print it.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from hubkit.audit.model import DESIGNED, FAIL, MANUAL, NA, PASS, STATUSES

TEMPLATE = Path(__file__).with_name("report.html.j2")

STATUS_LABEL = {PASS: "pass", DESIGNED: "designed", FAIL: "fail", MANUAL: "manual", NA: "not applicable"}
BASIS_LABEL = {"live": "verified live", "rendered": "rendered config", "planned": "planned (cloud)",
               "recorded": "repository record", "manual": "attached by a person", "none": "no evidence"}


def inline_svg(svg: str | None) -> str | None:
    """The rendered topology, made safe to inline: no prolog, no namespaces, no scripts or links."""
    if not svg:
        return None
    text = re.sub(r"<\?xml[^>]*\?>", "", svg)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.I)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    # Inline SVG in HTML needs no namespace declarations; dropping them keeps the
    # file free of any URL at all.
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r"<script\b.*?</script>", "", text, flags=re.S | re.I)
    text = re.sub(r'\s+on\w+="[^"]*"', "", text)
    text = re.sub(r'\s+(xlink:)?href="(?!#)[^"]*"', "", text)
    text = text.strip()
    if not text.startswith("<svg"):
        return None
    return text


def _env() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["status_label"] = lambda s: STATUS_LABEL.get(s, s)
    env.filters["basis_label"] = lambda s: BASIS_LABEL.get(s, s)
    env.filters["anchor"] = lambda s: "ev-" + re.sub(r"[^A-Za-z0-9_.-]", "-", s)
    return env


def render_html(doc: dict, rows, items, svg: str | None) -> str:
    by_id = {e.id: e for e in items}
    tmpl = _env().from_string(TEMPLATE.read_text(encoding="utf-8"))
    return tmpl.render(doc=doc, rows=rows, items=sorted(items, key=lambda e: e.id), by_id=by_id,
                       svg=inline_svg(svg), statuses=STATUSES)
