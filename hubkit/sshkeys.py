"""OpenSSH public keys as written in authorized_keys: parse and judge them.

hubkit writes admin keys verbatim into authorized_keys, so a key line must be
exactly ``TYPE BASE64 [COMMENT]`` (no options), and the base64 blob must be a
key of the type it claims.  Only ed25519 keys are accepted (plain or on a
FIDO token): every hub host's sshd accepts nothing else
(``PubkeyAcceptedAlgorithms`` in the rendered sshd drop-in), so another key
type would lock its admin out.
"""

from __future__ import annotations

import base64
import binascii
import struct

# Key types hubkit accepts: the ones sshd on hub hosts accepts
# (templates/hosts/common/etc/ssh/sshd_config.d/10-hubkit.conf.j2).
ACCEPTED = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com")


def _strings(blob: bytes, n: int) -> list[bytes]:
    out, i = [], 0
    for _ in range(n):
        if i + 4 > len(blob):
            raise ValueError("truncated key data")
        (size,) = struct.unpack(">I", blob[i:i + 4])
        i += 4
        if i + size > len(blob):
            raise ValueError("truncated key data")
        out.append(blob[i:i + size])
        i += size
    return out


def problem(line: str) -> str | None:
    """Why ``line`` is not an acceptable public key line, or None when it is."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        return "expected 'TYPE BASE64 [COMMENT]', e.g. 'ssh-ed25519 AAAA... you@example.org'"
    kind, b64 = parts[0], parts[1]
    if kind not in ACCEPTED:
        return (f"key type {kind!r} is not accepted: hub hosts accept ed25519 keys only "
                "(ssh-keygen -t ed25519, or -t ed25519-sk on a FIDO token)")
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return "the key data is not valid base64"
    try:
        [name] = _strings(blob, 1)
        if name.decode(errors="replace") != kind:
            return f"the key data is a {name.decode(errors='replace')!r} key, not {kind!r}"
        [_name, point] = _strings(blob, 2)
    except ValueError as e:
        return str(e)
    if len(point) != 32:
        return f"an ed25519 key is 32 bytes, this one {len(point)}"
    return None
