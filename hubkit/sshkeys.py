"""OpenSSH public keys as written in authorized_keys: parse and judge them.

hubkit writes admin keys verbatim into authorized_keys, so a key line must be
exactly ``TYPE BASE64 [COMMENT]`` (no options), and the base64 blob must be a
key of the type it claims.  Weak keys (DSA, RSA below 3072 bits) are refused.
"""

from __future__ import annotations

import base64
import binascii
import struct

# Key types hubkit accepts; RSA only with a modulus of at least RSA_MIN_BITS.
ACCEPTED = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa")
RSA_MIN_BITS = 3072


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
        return f"key type {kind!r} is not accepted (use ssh-ed25519; also ECDSA or RSA >= {RSA_MIN_BITS} bits)"
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return "the key data is not valid base64"
    try:
        [name] = _strings(blob, 1)
        if name.decode(errors="replace") != kind:
            return f"the key data is a {name.decode(errors='replace')!r} key, not {kind!r}"
        if kind == "ssh-rsa":
            _name, _e, n = _strings(blob, 3)
        else:
            _strings(blob, 2)
    except ValueError as e:
        return str(e)
    if kind == "ssh-rsa":
        bits = int.from_bytes(n, "big").bit_length()
        if bits < RSA_MIN_BITS:
            return f"RSA key of {bits} bits is too weak (at least {RSA_MIN_BITS})"
    return None
