"""Filters for hubkit's playbooks (loaded automatically: this directory sits beside site.yml)."""

from __future__ import annotations

import hashlib
import re

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


_DEB_LINE = re.compile(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)")


def _apt_sources(text: str) -> list[tuple[str, str]]:
    """(URI, suite) pairs of the binary sources in one-line (.list) and deb822 (.sources) text."""
    out = [(m.group(1), m.group(2)) for m in map(_DEB_LINE.match, text.splitlines()) if m]
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*)$", stanza, re.M))
        if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes").lower() != "no":
            out += [(u, s) for u in fields.get("URIs", "").split() for s in fields.get("Suites", "").split()]
    return out


def hubkit_security_source(text: str, suite: str) -> str:
    """The apt line for ``<suite>-security`` when the sources in ``text`` lack it, else "".

    It is taken from the host's own Debian mirror host (``<scheme>://<host>/debian-security``,
    the layout of Debian's own archive hosts); a site whose mirror has no security
    archive sets ``common_security_source`` instead.
    """
    sources = _apt_sources(text)
    if any(s == f"{suite}-security" for _, s in sources):
        return ""
    main = next((u for u, s in sources if s == suite and re.match(r"^https?://[^/]+", u)), None)
    if main is None:
        return ""
    base = re.match(r"^https?://[^/]+", main).group(0)
    return f"deb {base}/debian-security {suite}-security main"


class FilterModule:
    def filters(self):
        return {"hubkit_unchanged": hubkit_unchanged, "hubkit_security_source": hubkit_security_source}
