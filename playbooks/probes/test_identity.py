"""Identity: the live realm, read through Keycloak's admin API (not from Pulumi's state).

Runs where verify runs the hub probes (in a lab: its mgmt netns, the only
place its Keycloak answers).  The admin login comes from the lab's root-only
password file, or at a site from KEYCLOAK_URL/KEYCLOAK_USER/KEYCLOAK_PASSWORD.
When the cloud services were not provisioned (planned only, skipped), every
check here is skipped with that reason: there is nothing live to read.
"""

from __future__ import annotations

import os

import pytest

from hubkit.verify.plugin import expect


@pytest.fixture(scope="module")
def realm_admin(hk):
    from hubkit.cloud import keycloak_api, record
    rec = record.read(hk.raw["fleet_root"], hk.hub_id)
    if rec is None or not rec.provisioned:
        pytest.skip(f"the cloud services were not provisioned ({rec.describe() if rec else 'no cloud run recorded'})")
    if hk.lab:
        from hubkit.lab import keycloak
        svc = keycloak.service(hk.hub_id)
        return keycloak_api.Admin(svc.url, keycloak.ADMIN_USER, svc.admin_password())
    missing = [k for k in ("KEYCLOAK_URL", "KEYCLOAK_USER", "KEYCLOAK_PASSWORD") if not os.environ.get(k)]
    if missing:
        pytest.skip(f"no Keycloak admin login for a live check ({', '.join(missing)} not set)")
    return keycloak_api.Admin(os.environ["KEYCLOAK_URL"], os.environ["KEYCLOAK_USER"], os.environ["KEYCLOAK_PASSWORD"])


@pytest.fixture(scope="module")
def realm(hk):
    from hubkit.cloud.stack import load_program
    load_program()
    from hubstack.providers import DEFAULT_REALM, REALM_ENV
    return os.environ.get(REALM_ENV) or DEFAULT_REALM


@pytest.fixture(scope="module")
def group(hk, realm_admin, realm):
    from hubkit.cloud.stack import load_program
    load_program()
    from hubstack.identity import group_name
    g = realm_admin.group(realm, group_name(hk.hub))
    expect(g is not None, f"group {group_name(hk.hub)} in realm {realm}", "no such group")
    return g


@pytest.mark.bsi("ORP.4.A1", "ORP.4.A2")
def test_every_staff_member_has_an_account(hk, realm_admin, realm):
    missing, disabled = [], []
    for m in hk.hub.staff:
        u = realm_admin.user(realm, m.username)
        if u is None:
            missing.append(m.username)
        elif not u.get("enabled"):
            disabled.append(m.username)
    expect(not missing and not disabled, f"an enabled account for each of the {len(hk.hub.staff)} staff members",
           f"missing {', '.join(missing) or '-'}, disabled {', '.join(disabled) or '-'}")


@pytest.mark.bsi("ORP.4.A1", "ORP.4.A9")
def test_hub_group_holds_exactly_the_staff(hk, realm_admin, realm, group):
    """Absence too: nobody is in the hub's group whom the hub file does not list."""
    want = sorted(m.username for m in hk.hub.staff)
    have = realm_admin.group_members(realm, group["id"])
    extra, missing = sorted(set(have) - set(want)), sorted(set(want) - set(have))
    expect(not extra and not missing, f"group {group['name']} = {', '.join(want) or '(nobody)'}",
           f"also {', '.join(extra) or '-'}; missing {', '.join(missing) or '-'}")


@pytest.mark.bsi("ORP.4.A13")
def test_brute_force_lockout_is_on(realm_admin, realm):
    r = realm_admin.realm(realm) or {}
    ok = r.get("bruteForceProtected") is True and 0 < int(r.get("failureFactor") or 0) <= 10
    expect(ok, "brute-force detection on, lockout after at most 10 failed logins",
           f"bruteForceProtected {r.get('bruteForceProtected')}, failureFactor {r.get('failureFactor')}")


@pytest.mark.bsi("ORP.4.A10")
def test_admin_role_requires_a_second_factor(hk, realm_admin, realm):
    """The hub's admin role carries mfa-required, and the realm's browser login asks holders
    of mfa-required for a one-time password (a REQUIRED OTP form behind a role condition)."""
    from hubkit.cloud.stack import load_program
    load_program()
    from hubstack.identity import group_name
    from hubstack.realm import FLOW, MFA_ROLE
    role = f"{group_name(hk.hub)}-admin"
    composites = realm_admin.role_composites(realm, role)
    expect(MFA_ROLE in composites, f"role {role} includes {MFA_ROLE}", f"composites {composites or 'none'}")
    r = realm_admin.realm(realm) or {}
    expect(r.get("browserFlow") == FLOW, f"browser flow {FLOW}", f"browser flow {r.get('browserFlow')}")
    steps = realm_admin.flow_executions(realm, FLOW)
    conds = [e for e in steps if e.get("providerId") == "conditional-user-role"]
    otp = [e for e in steps if e.get("providerId") == "auth-otp-form"]
    cond_role = None
    if conds and conds[0].get("authenticationConfig"):
        cond_role = (realm_admin.execution_config(realm, conds[0]["authenticationConfig"]) or {}).get(
            "config", {}).get("condUserRole")
    ok = (len(conds) == 1 and conds[0].get("requirement") == "REQUIRED" and cond_role == MFA_ROLE
          and len(otp) == 1 and otp[0].get("requirement") == "REQUIRED"
          and otp[0].get("level") == conds[0].get("level"))
    expect(ok, f"an OTP form REQUIRED for holders of {MFA_ROLE}",
           f"conditions {[(c.get('requirement'), cond_role) for c in conds]}, "
           f"OTP forms {[o.get('requirement') for o in otp]}")
