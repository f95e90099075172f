"""The session's factory lab: Zeitz (as ``hkbs-zeitz``) opened from factory state by the
installed wheel.

One opening serves two modules (CI time, one full open fewer): tests/bootstrap reads and
then breaks it (bootstrap's guarantees, a changed host key, a removed admin), and
tests/packaging/test_wheel_lab.py checks that the installed package opened it to a green audit.
What the wheel's test reads (the open's output, the evidence and the configure record) is
kept at opening time, so it holds whatever the bootstrap tests did to the lab since.  The
fleet comes from the wheel's own `hubkit init`; its admins get key pairs made for the test,
so each admin's own login can be tried.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.verify import labkit
from tests.wheelkit import run_installed

HUB = "hkbs-zeitz"
ADMINS = ("op-alpha", "op-beta")
VAULT_PASSWORD = "bootstrap-lab-pw-3k"


def set_admins(root: Path, names, keys: Path) -> None:
    text = (root / "fleet.yaml").read_text()
    block = "  admins:\n" + "".join(
        f"    - username: {n}\n      full_name: Test {n}\n      ssh_keys:\n"
        f"        - {(keys / f'{n}.pub').read_text().strip()}\n" for n in names)
    text = re.sub(r"(?ms)^  admins:\n(    .*\n|      .*\n|        .*\n)*", block, text)
    (root / "fleet.yaml").write_text(text)


def opened(tmp_path_factory, venv: Path):
    """Generator for the session fixture: the opened factory lab as a dict, taken down afterwards."""
    from hubkit import lab as hklab
    from hubkit.scaffold import keep_renamed_hubs
    labkit.prereqs()
    base = tmp_path_factory.mktemp("bootstrap")
    work = base / "work"  # not the checkout
    work.mkdir()
    run_installed(venv, work, "init", "fleet")
    root = keep_renamed_hubs(work / "fleet", {"zeitz": HUB})
    keys = base / "keys"
    keys.mkdir()
    for n in ADMINS:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n, "-f", str(keys / n)], check=True)
    set_admins(root, ADMINS, keys)
    if hklab.load(HUB) is not None:
        hklab.down(HUB)  # a leftover of an interrupted run
    r = run_installed(venv, work, "--fleet", root, "open", HUB, "--lab", "--factory", "--yes",
                      env={"CI": "true", "HUBKIT_VAULT_PASSWORD": VAULT_PASSWORD}, check=False, timeout=1500)
    evidence = root / "audit" / HUB / "evidence.json"
    recap = root / ".hubkit" / "runs" / HUB / "configure.json"
    try:
        yield {"root": root, "keys": keys, "open": r, "info": hklab.load(HUB),
               "evidence": json.loads(evidence.read_text()) if evidence.is_file() else None,
               "recap": json.loads(recap.read_text()) if recap.is_file() else None}
    finally:
        if hklab.load(HUB) is not None:
            hklab.down(HUB)
