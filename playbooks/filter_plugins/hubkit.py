"""Filters for hubkit's playbooks (loaded automatically: this directory sits beside site.yml)."""

from __future__ import annotations

import hashlib

# Every rendered host file is root-owned; WireGuard configs hold a private key.
_PRIVATE_PREFIXES = ("/etc/wireguard/",)


def expected_probe_line(path: str, text: str) -> str:
    """What tasks/probe_rendered.yml prints for ``path`` when it already holds ``text``."""
    mode = "600" if path.startswith(_PRIVATE_PREFIXES) else "644"
    digest = hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a content probe, not security
    return f"{digest} {mode} root root {path}"


def hubkit_unchanged(paths: list[str], rendered: list[str], probe_lines: list[str]) -> list[str]:
    """The paths whose on-host checksum, mode and owner match their fresh render."""
    if len(paths) != len(rendered):
        raise ValueError(f"hubkit_unchanged: {len(paths)} paths but {len(rendered)} renders")
    seen = set(probe_lines)
    return [p for p, text in zip(paths, rendered) if expected_probe_line(p, text) in seen]


class FilterModule:
    def filters(self):
        return {"hubkit_unchanged": hubkit_unchanged}
