"""Lynis (Debian's ``lynis``) on lab hosts: the hardening index an independent scanner gives.

The scanner is no part of a hub host: no role installs it.  The lab image
carries its .deb in the apt cache (``image.AUDIT_PACKAGES``), and ``scan``
installs it from there (offline), runs ``lynis audit system --quick`` and
removes it again, so the host is left as configure made it.  Used by
``tests/verify/test_hardening_lab.py`` and ``bench/lynis.py``.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hubkit.errors import HubkitError

REPORT = "/var/log/lynis-report.dat"
# Offline: the .deb comes from the image's pre-seeded cache, never a mirror.
SCRIPT = f"""set -e
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-download --no-install-recommends lynis >/dev/null
lynis audit system --quick --no-colors >/dev/null 2>&1 || true
grep -E '^(hardening_index|suggestion\\[\\]|warning\\[\\])=' {REPORT} || true
apt-get purge -y -qq lynis >/dev/null
rm -f {REPORT} /var/log/lynis.log
"""


@dataclass(frozen=True)
class Scan:
    host: str
    index: int
    suggestions: tuple[str, ...]
    warnings: tuple[str, ...]


def parse(host: str, report: str) -> Scan:
    """The hardening index and the test ids of suggestions/warnings from report lines."""
    m = re.search(r"^hardening_index=(\d+)$", report, re.M)
    if m is None:
        raise HubkitError(f"lynis on {host} wrote no hardening_index", "run it by hand: lynis audit system")
    ids = lambda kind: tuple(sorted(set(re.findall(rf"^{kind}\[\]=([A-Z]+-\d+)\|", report, re.M))))  # noqa: E731
    return Scan(host, int(m.group(1)), ids("suggestion"), ids("warning"))


def scan(lab_id: str, host: str, timeout: float = 900) -> Scan:
    """Install, run and remove Lynis on one lab host."""
    from hubkit.lab import exec_argv
    r = subprocess.run(exec_argv(lab_id, host, ["sudo", "sh", "-c", SCRIPT]), capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise HubkitError(f"lynis on {host} failed (exit {r.returncode}): {r.stderr.strip()[-400:]}",
                          "is the lab image current (hubkit lab image build)? lynis comes from its apt cache")
    return parse(host, r.stdout)


def scan_all(lab_id: str, hosts: list[str], parallel: int = 3) -> dict[str, Scan]:
    """``scan`` on several hosts at once (each run is mostly single-threaded shell)."""
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return {s.host: s for s in pool.map(lambda h: scan(lab_id, h), hosts)}
