"""Just enough structure of the rendered config formats for the audit's static checks.

nftables (chains of the ``inet filter`` table with hook, priority and policy),
sshd options, WireGuard sections, and a line finder.  Each keeps 1-based line
numbers so that evidence can point at ``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NFT_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}


@dataclass
class Chain:
    name: str
    policy: str | None
    policy_line: int
    rules: list[tuple[int, str]] = field(default_factory=list)  # (1-based line, rule without comments)
    hook: str | None = None
    priority: int | None = None


def nft_chains(text: str) -> dict[str, Chain]:
    """Chains of the ``inet filter`` table."""
    chains: dict[str, Chain] = {}
    table = None
    current: Chain | None = None
    depth = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"table\s+(\w+)\s+(\w+)\s*\{", line)
        if m and depth == 0:
            table, depth = f"{m.group(1)} {m.group(2)}", 1
            continue
        m = re.match(r"chain\s+(\S+)\s*\{", line)
        if m and depth == 1:
            current, depth = Chain(m.group(1), None, n), 2
            if table == "inet filter":
                chains[current.name] = current
            continue
        if line == "}":
            depth -= 1
            if depth < 2:
                current = None
            continue
        if current is not None:
            if line.startswith("type "):
                m = re.search(r"policy\s+(\w+)", line)
                current.policy, current.policy_line = (m.group(1) if m else None), n
                h = re.search(r"hook\s+(\w+)", line)
                current.hook = h.group(1) if h else None
                p = re.search(r"priority\s+(-?\d+|\w+)", line)
                if p:
                    v = p.group(1)
                    current.priority = int(v) if v.lstrip("-").isdigit() else NFT_PRIORITIES.get(v)
            else:
                current.rules.append((n, line))
    return chains


def sshd_options(text: str) -> dict[str, tuple[int, str]]:
    """option (lower case) -> (line, value); sshd keeps the first value of an option."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split("#", 1)[0].split(None, 1)
        if len(parts) == 2:
            out.setdefault(parts[0].lower(), (n, parts[1].strip()))
    return out


def wg_sections(text: str) -> list[tuple[str, int, dict]]:
    """[(section name, line, {key: value})] of a wg-quick file."""
    out, cur = [], None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            cur = (line[1:-1], n, {})
            out.append(cur)
        elif "=" in line and cur is not None:
            k, v = line.split("=", 1)
            cur[2][k.strip()] = v.strip()
    return out


def line_of(text: str, pattern: str):
    """(line number, first group or the line) of the first line matching ``pattern``, or None."""
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(pattern, line.strip())
        if m:
            return n, (m.group(1) if m.groups() else line)
    return None
