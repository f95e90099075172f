"""Recorded SSH host keys: the fleet's ``known_hosts/<id>`` (or the lab's copy).

``hubkit bootstrap`` records each host's keys on first contact (trust on
first use, after the operator has checked the delivery); every later
connection checks them strictly.  A host whose key differs from the record is
refused until an operator removes the line on purpose.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from hubkit.atomic import write_atomic
from hubkit.errors import HubkitError, PrerequisiteError

# Key types recorded at first contact: a factory host offers ed25519 and ECDSA; once
# configured, a hub host's sshd offers its ed25519 key only (docs/hardening.md), which
# check() then finds among the recorded ones.
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256")


@dataclass(frozen=True)
class Entry:
    """One known_hosts line: the names/addresses it covers and one key."""

    names: tuple[str, ...]
    key_type: str
    key: str
    line: int = 0

    def text(self) -> str:
        return f"{','.join(self.names)} {self.key_type} {self.key}"


class HostKeyChanged(HubkitError):
    """A host presents a key other than the recorded one (exit 1)."""


def read(path: Path) -> list[Entry]:
    """Entries of a known_hosts file (plain names only; comments and blanks skipped)."""
    out = []
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return out
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) < 3 or line.lstrip().startswith("#"):
            continue
        out.append(Entry(tuple(parts[0].split(",")), parts[1], parts[2], n))
    return out


def recorded(path: Path, name: str) -> list[Entry]:
    return [e for e in read(path) if name in e.names]


def scan(address: str, netns: str | None = None, timeout: int = 5) -> dict[str, str]:
    """The host keys ``address`` presents ({type: base64}), via ssh-keyscan."""
    argv = ["ssh-keyscan", "-T", str(timeout), "-t", "ed25519,ecdsa", address]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout * 3)
    except FileNotFoundError:
        raise PrerequisiteError("ssh-keyscan is not installed", "install openssh-client") from None
    except subprocess.TimeoutExpired:
        return {}
    keys = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#") and parts[1] in KEY_TYPES:
            keys[parts[1]] = parts[2]
    return keys


def check(path: Path, name: str, address: str, presented: dict[str, str]) -> bool:
    """True when ``name`` has recorded keys and every one matches what it presents now.

    False when nothing is recorded yet (first contact); raises HostKeyChanged
    when a recorded key differs.
    """
    entries = recorded(path, name)
    if not entries:
        return False
    for e in entries:
        if e.key_type in presented and presented[e.key_type] != e.key:
            raise HostKeyChanged(
                f"the host key of {name} ({address}) changed since it was recorded "
                f"({path}:{e.line}: {e.key_type}); refusing to connect",
                f"if {name} was reinstalled or replaced on purpose, delete its lines from {path} "
                f"and run `hubkit bootstrap` again; otherwise treat it as a possible attack")
    if not any(e.key_type in presented for e in entries):
        raise HostKeyChanged(
            f"{name} ({address}) presents none of its recorded host key types "
            f"({', '.join(sorted(e.key_type for e in entries))}, {path})",
            f"delete its lines from {path} only if the host was replaced on purpose")
    return True


def record(path: Path, name: str, address: str, keys: dict[str, str]) -> None:
    """Add ``name``'s keys (replacing nothing: a changed key must be removed by hand first)."""
    entries = read(path)
    have = {(e.names, e.key_type) for e in entries}
    names = (name, address)
    new = [Entry(names, t, k) for t, k in sorted(keys.items()) if (names, t) not in have]
    if not new:
        return
    lines = sorted({e.text() for e in entries} | {e.text() for e in new})
    write_atomic(Path(path), "# SSH host keys recorded by hubkit bootstrap; a changed key is refused.\n"
                 + "\n".join(lines) + "\n")
