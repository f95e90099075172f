"""hubkit secrets init: vault contents, keep/rotate, password sources, canaries never rendered."""

from __future__ import annotations

import base64
import json
import stat


from hubkit.secrets import load_secrets, save_secrets

PW = "test-vault-password"


def test_init_creates_encrypted_vault_and_public_key(hk, fleet_root):
    r = hk("secrets", "init", "zeitz", "--json", env={"HUBKIT_VAULT_PASSWORD": PW})
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["created"] == ["wg", "staff:zz-lead", "staff:zz-staff01", "staff:zz-staff02",
                              "staff:zz-trainee01"]
    vault = fleet_root / "secrets" / "zeitz.vault.yml"
    assert vault.read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    s = load_secrets(fleet_root, "zeitz", PW)
    assert set(s) == {"vault_wg_private_key", "vault_wg_public_key", "vault_staff_passwords"}
    assert len(base64.b64decode(s["vault_wg_private_key"])) == 32
    assert (fleet_root / "secrets/zeitz.pub").read_text().strip() == s["vault_wg_public_key"]
    assert set(s["vault_staff_passwords"]) == {"zz-lead", "zz-staff01", "zz-staff02", "zz-trainee01"}
    # No secret value on stdout.
    for v in [s["vault_wg_private_key"], *s["vault_staff_passwords"].values()]:
        assert v not in r.output


def test_public_key_matches_private_key(hk, fleet_root):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    assert hk("secrets", "init", "zeitz", env={"HUBKIT_VAULT_PASSWORD": PW}).exit_code == 0
    s = load_secrets(fleet_root, "zeitz", PW)
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(s["vault_wg_private_key"]))
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b64encode(pub).decode() == s["vault_wg_public_key"]


def test_rerun_keeps_rotate_replaces_and_new_staff_added(hk, fleet_root, tmp_path):
    pwfile = tmp_path / "pw"
    pwfile.write_text(PW + "\n")
    args = ("secrets", "init", "zeitz", "--vault-password-file", str(pwfile))
    assert hk(*args).exit_code == 0
    first = load_secrets(fleet_root, "zeitz", PW)
    assert hk(*args).exit_code == 0
    assert load_secrets(fleet_root, "zeitz", PW) == first
    hub = fleet_root / "hubs" / "zeitz.yaml"
    hub.write_text(hub.read_text().replace(
        "  - {username: zz-trainee01,",
        "  - {username: zz-new01, full_name: New One, role: staff}\n  - {username: zz-trainee01,"))
    r = hk(*args, "--rotate", "staff:zz-lead", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["rotated"] == ["staff:zz-lead"] and res["created"] == ["staff:zz-new01"]
    after = load_secrets(fleet_root, "zeitz", PW)
    assert after["vault_wg_private_key"] == first["vault_wg_private_key"]
    assert after["vault_staff_passwords"]["zz-lead"] != first["vault_staff_passwords"]["zz-lead"]
    assert after["vault_staff_passwords"]["zz-staff01"] == first["vault_staff_passwords"]["zz-staff01"]
    assert hk(*args, "--rotate", "wg").exit_code == 0
    rot = load_secrets(fleet_root, "zeitz", PW)
    assert rot["vault_wg_private_key"] != first["vault_wg_private_key"]
    assert (fleet_root / "secrets/zeitz.pub").read_text().strip() == rot["vault_wg_public_key"]


def test_missing_password_is_exit_3_and_bad_rotate_exit_2(hk, fleet_root):
    r = hk("secrets", "init", "zeitz")
    assert r.exit_code == 3 and "HUBKIT_VAULT_PASSWORD" in r.output
    r = hk("secrets", "init", "zeitz", "--rotate", "staff:nobody", env={"HUBKIT_VAULT_PASSWORD": PW})
    assert r.exit_code == 2
    assert not (fleet_root / "secrets" / "zeitz.vault.yml").exists()


def test_wrong_password_is_a_clean_error(hk, fleet_root):
    assert hk("secrets", "init", "zeitz", env={"HUBKIT_VAULT_PASSWORD": PW}).exit_code == 0
    r = hk("secrets", "init", "zeitz", env={"HUBKIT_VAULT_PASSWORD": "wrong"})
    assert r.exit_code == 1 and "cannot decrypt" in r.output and "Traceback" not in r.output


def test_canary_secrets_never_reach_rendered_output_or_logs(hk, fleet_root, tmp_path):
    canaries = {"vault_wg_private_key": "CANARYprivKEY0000000000000000000000000000000=",
                "vault_wg_public_key": "PUBLICkeyIsNotSecret00000000000000000000000=",
                "vault_staff_passwords": {"zz-lead": "CANARYpassLEAD", "zz-staff01": "CANARYpassS01"}}
    for hub in ("zeitz", "naumburg"):
        save_secrets(fleet_root, hub, PW, canaries)
    r = hk("-vv", "render", "--all", "--json", env={"HUBKIT_VAULT_PASSWORD": PW})
    assert r.exit_code == 0, r.output
    r2 = hk("-vv", "diff", "zeitz", env={"HUBKIT_VAULT_PASSWORD": PW})
    outputs = [r.output, r2.output]
    blobs = [p.read_bytes() for p in (fleet_root / "build").rglob("*") if p.is_file()]
    assert len(blobs) > 100
    for secret in ("CANARYprivKEY", "CANARYpassLEAD", "CANARYpassS01", "CANARY"):
        assert not [b for b in blobs if secret.encode() in b]
        assert not [o for o in outputs if secret in o]
    # The public key is meant to be rendered (the core's peer entry).
    peer = (fleet_root / "build/zeitz/hosts/dc-core/etc/wireguard/peers/zeitz.conf").read_text()
    assert canaries["vault_wg_public_key"] in peer
