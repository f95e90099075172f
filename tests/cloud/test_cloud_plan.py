"""Offline plan: labelling, masking (with a canary), determinism, vault use."""

from __future__ import annotations

import json

import pytest
import yaml

from hubkit.cloud import plan as offline
from hubkit.cloud import run
from hubkit.cloud.plan import NOTE, SECRET, mask, offline_plan

CANARY = "CANARY-Pw-7f3a9c-do-not-leak"


def _all_text(p) -> str:
    return json.dumps(p.to_json(), sort_keys=True) + p.to_text()


def test_plan_is_labelled_intent_only(zeitz):
    p = offline_plan(zeitz)
    assert p.to_json()["note"] == NOTE == "intent only; not compared with real state"
    assert NOTE in p.to_text().splitlines()[0]
    assert "placeholder" in p.to_text().splitlines()[1]
    assert p.to_json()["passwords"] == "placeholder"


def test_canary_password_never_in_plan(zeitz):
    p = offline_plan(zeitz, {m.username: CANARY for m in zeitz.staff}, source="given")
    text = _all_text(p)
    assert CANARY not in text
    assert text.count(SECRET) >= len(zeitz.staff)


def test_placeholder_never_in_plan(zeitz):
    from hubkit.cloud.stack import load_program
    assert load_program().OFFLINE_PASSWORD not in _all_text(offline_plan(zeitz))


def test_plan_json_is_deterministic(zeitz):
    a = json.dumps(offline_plan(zeitz).to_json(), sort_keys=True)
    b = json.dumps(offline_plan(zeitz).to_json(), sort_keys=True)
    assert a == b


def test_mask_handles_nested_secrets_and_floats():
    from pulumi.runtime import rpc
    wrapped = {rpc._special_sig_key: rpc._special_secret_sig, "value": "s3cret"}
    assert mask({"a": [wrapped, 2.0, 2.5], "b": {"c": wrapped}}) == {"a": [SECRET, 2, 2.5], "b": {"c": SECRET}}


def _write_vault(fleet_root, hub_id, password, data):
    """An ansible-vault file as the architecture contract describes it."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    lib = VaultLib([("default", VaultSecret(password.encode()))])
    path = fleet_root / "secrets" / f"{hub_id}.vault.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lib.encrypt(yaml.safe_dump(data).encode()))
    return path


def test_canary_through_vault_never_in_plan(fleet, fleet_root, monkeypatch):
    pytest.importorskip("hubkit.secrets", reason="hubkit.secrets (vault loader) not in this tree yet")
    hub = fleet.hub("zeitz").model
    _write_vault(fleet_root, "zeitz", "vault-pw", {
        "vault_staff_passwords": {m.username: f"{CANARY}-{m.username}" for m in hub.staff},
        "vault_wg_private_key": "x", "vault_wg_public_key": "y"})
    monkeypatch.setenv("HUBKIT_VAULT_PASSWORD", "vault-pw")
    p, found = run.offline_plan(fleet, "zeitz")
    assert p.passwords == "vault"
    assert found == []
    assert CANARY not in _all_text(p)


def test_without_vault_password_uses_placeholder(fleet, monkeypatch):
    monkeypatch.delenv("HUBKIT_VAULT_PASSWORD", raising=False)
    p, found = run.offline_plan(fleet, "zeitz")
    assert p.passwords == "placeholder" and found == []
    assert offline.PLACEHOLDER_NOTE in p.to_text()


def test_canary_absent_at_high_verbosity_cli(fleet, fleet_root):
    """Through the real CLI process at -vv (pulumi's debug logs on): no plaintext anywhere."""
    pytest.importorskip("hubkit.secrets", reason="hubkit.secrets (vault loader) not in this tree yet")
    import os
    import subprocess
    import sys
    hub = fleet.hub("zeitz").model
    _write_vault(fleet_root, "zeitz", "vault-pw", {
        "vault_staff_passwords": {m.username: f"{CANARY}-{m.username}" for m in hub.staff},
        "vault_wg_private_key": "x", "vault_wg_public_key": "y"})
    env = {**os.environ, "HUBKIT_VAULT_PASSWORD": "vault-pw"}
    res = subprocess.run([sys.executable, "-c", "from hubkit.cli import main; main()",
                          "--fleet", str(fleet_root), "-vv", "plan", "zeitz", "--offline"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "DEBUG" in res.stderr   # the debug logs really were on
    assert "staff initial passwords from the vault" in res.stdout
    assert CANARY not in res.stdout and CANARY not in res.stderr
    assert "[secret]" in res.stdout
