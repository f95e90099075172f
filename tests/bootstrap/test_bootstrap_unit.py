"""Bootstrap, access and host keys without a lab: what is decided before any host is contacted."""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from hubkit import hostkeys, sshkeys
from hubkit.access import site_access
from hubkit.errors import PrerequisiteError, UsageError
from hubkit.fleet.repo import load_fleet

HUBKIT = str(Path(sys.executable).with_name("hubkit"))
ED = "AAAAC3NzaC1lZDI1NTE5AAAAIDJ83gAf/IKjs7USsrv0eqv52Z7jQ+4d50aoijl5Bi3l"


def _blob(*parts: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(p)) + p for p in parts)).decode()


RSA_3072 = _blob(b"ssh-rsa", b"\x01\x00\x01", b"\x80" + b"\x00" * 383)
ECDSA = _blob(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + b"\x11" * 64)
SK_ED = _blob(b"sk-ssh-ed25519@openssh.com", b"\x22" * 32, b"ssh:")
ED_SHORT = _blob(b"ssh-ed25519", b"\x33" * 31)


# Hub hosts' sshd accepts ed25519 user keys only (PubkeyAcceptedAlgorithms): any
# other type, however strong, would lock its admin out, so HK122 refuses it.
@pytest.mark.parametrize("line,why", [
    (f"ssh-ed25519 {ED} me@host", None),
    (f"ssh-ed25519 {ED}", None),
    (f"sk-ssh-ed25519@openssh.com {SK_ED} token", None),
    ("ssh-ed25519", "expected 'TYPE BASE64"),
    ("ssh-dss AAAAB3NzaC1kc3M= x", "not accepted"),
    ("ssh-rsa " + RSA_3072 + " strong-but-refused", "accept ed25519 keys only"),
    ("ecdsa-sha2-nistp256 " + ECDSA + " refused", "accept ed25519 keys only"),
    ("ssh-ed25519 not*base64 x", "not valid base64"),
    ("ssh-ed25519 " + RSA_3072 + " x", "is a 'ssh-rsa' key, not 'ssh-ed25519'"),
    ("ssh-ed25519 " + ED_SHORT + " x", "32 bytes, this one 31"),
    (f"from=\"10.0.0.1\" ssh-ed25519 {ED}", "not accepted"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x", "truncated"),
])
def test_ssh_key_lines(line, why):
    got = sshkeys.problem(line)
    assert (got is None) if why is None else (why in got), got


def test_known_hosts_record_check_and_refuse_a_changed_key(tmp_path):
    kh = tmp_path / "known_hosts" / "zeitz"
    keys = {"ssh-ed25519": "AAAA1", "ecdsa-sha2-nistp256": "BBBB1"}
    assert hostkeys.check(kh, "ws01", "10.64.0.11", keys) is False  # first contact
    hostkeys.record(kh, "ws01", "10.64.0.11", keys)
    text = kh.read_text()
    assert "ws01,10.64.0.11 ssh-ed25519 AAAA1" in text
    hostkeys.record(kh, "ws01", "10.64.0.11", keys)
    assert kh.read_text() == text  # idempotent, deterministic
    assert hostkeys.check(kh, "ws01", "10.64.0.11", keys) is True
    with pytest.raises(hostkeys.HostKeyChanged) as e:
        hostkeys.check(kh, "ws01", "10.64.0.11", {"ssh-ed25519": "AAAA2"})
    assert e.value.exit_code == 1 and f"{kh}:" in e.value.message and "changed" in e.value.message
    with pytest.raises(hostkeys.HostKeyChanged):
        hostkeys.check(kh, "ws01", "10.64.0.11", {"ssh-rsa": "CCCC"})


def test_site_access_refuses_an_unknown_admin_and_a_missing_key(fleet_root, tmp_path):
    hub = load_fleet(fleet_root).hub("zeitz").model
    a = site_access(fleet_root, hub)
    assert a.user == "op-lange" and a.ansible_extra_vars() == {}
    assert a.known_hosts == fleet_root.resolve() / "known_hosts" / "zeitz"
    b = site_access(fleet_root, hub, user="op-weber", jump="ops@bastion")
    assert b.ansible_extra_vars() == {"ansible_user": "op-weber", "ansible_ssh_extra_args": "-o ProxyJump=ops@bastion"}
    with pytest.raises(UsageError, match="unknown admin 'root'"):
        site_access(fleet_root, hub, user="root")
    with pytest.raises(PrerequisiteError, match="does not exist"):
        site_access(fleet_root, hub, private_key=tmp_path / "nope")
    with pytest.raises(UsageError, match="bad jump host"):
        site_access(fleet_root, hub, jump="-oProxyCommand=evil")


def _hubkit(root: Path, *args: str, env: dict | None = None):
    # No network namespace needed: these must fail before anything is contacted.
    e = {**os.environ, "CI": "true", "HUBKIT_VAULT_PASSWORD": "unit-pw", **(env or {})}
    for k in ("HUBKIT_SSH_USER", "HUBKIT_SSH_KEY", "HUBKIT_SSH_JUMP", "HUBKIT_INSTALLER_KEY"):
        e.pop(k, None)
    return subprocess.run(["unshare", "-n", HUBKIT, "--fleet", str(root), *args], capture_output=True,
                          text=True, env=e, stdin=subprocess.DEVNULL)


@pytest.fixture
def rendered_fleet(fleet_root):
    from hubkit import secrets
    from hubkit.render import render_fleet
    hub = load_fleet(fleet_root).hub("zeitz").model
    secrets.init_secrets(fleet_root, "zeitz", [m.username for m in hub.staff], "unit-pw")
    render_fleet(load_fleet(fleet_root), ["zeitz"])
    return fleet_root


@pytest.mark.skipif(os.geteuid() != 0, reason="unshare -n needs root")
def test_missing_installer_credential_is_exit_3_and_nothing_contacted(rendered_fleet):
    before = sorted(p for p in rendered_fleet.rglob("*") if ".hubkit" not in p.parts)
    for cmd in (["bootstrap", "zeitz"], ["configure", "zeitz"]):
        r = _hubkit(rendered_fleet, *cmd)
        assert r.returncode == 3, r.stderr
        assert "never bootstrapped" in r.stderr or "not bootstrapped" in r.stderr
        assert "--installer-key" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p for p in rendered_fleet.rglob("*") if ".hubkit" not in p.parts) == before
    assert not (rendered_fleet / "known_hosts").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="unshare -n needs root")
def test_unknown_admin_and_bad_options_are_usage_errors(rendered_fleet, tmp_path):
    r = _hubkit(rendered_fleet, "bootstrap", "zeitz", "--user", "nobody", "--installer-key", str(tmp_path / "k"))
    assert r.returncode == 2 and "unknown admin 'nobody'" in r.stderr
    r = _hubkit(rendered_fleet, "bootstrap", "zeitz", "--installer-key", str(tmp_path / "k"),
                "--installer-password")
    assert r.returncode == 2 and "not both" in r.stderr
    r = _hubkit(rendered_fleet, "open", "zeitz", "--factory")
    assert r.returncode == 2 and "--factory is for the lab" in r.stderr
    r = _hubkit(rendered_fleet, "configure", "zeitz", "--installer-key", str(tmp_path / "missing"))
    assert r.returncode == 3 and "installer key" in r.stderr and "does not exist" in r.stderr
