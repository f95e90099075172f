"""Stable codes for problems found while loading files (HK0xx).

Semantic rules (HK1xx) live in ``hubkit.rules``; this table gives the load
codes a title and a general hint for SARIF's rule table and the docs.
"""

from __future__ import annotations

LOAD_CODES: dict[str, tuple[str, str]] = {
    "HK001": ("YAML syntax error (also tabs, control characters, unknown aliases)",
              "check indentation (spaces, not tabs), quoting and brackets"),
    "HK002": ("duplicate mapping key", "remove one of the two entries"),
    "HK003": ("file is empty", "describe the hub as a YAML mapping"),
    "HK004": ("file is not valid UTF-8", "save the file as UTF-8"),
    "HK005": ("top level is not one mapping (list, scalar, null or several documents)",
              "the file must be one mapping of keys to values"),
    "HK006": ("document too large when expanded or too deeply nested (alias bomb, nesting)",
              "remove the aliases and flatten the structure"),
    "HK007": ("file cannot be read or is larger than 4 MiB", "check the path, permissions and size"),
    "HK008": ("unsupported YAML tag or a value its tag cannot read",
              "remove the tag; quote the value to keep it a string"),
    "HK009": ("complex (non-scalar) mapping key", "use plain scalar keys"),
    "HK010": ("value has the wrong type or format", "fix the value's type or format"),
    "HK011": ("unknown key", "remove it or check its spelling"),
    "HK012": ("missing required key", "add it to the hub or a layer"),
    "HK013": ("region file missing or region name malformed",
              "create regions/<name>.yaml or fix the name"),
}
