"""FleetRealm: the identity realm every hub's staff live in, and the settings hubkit owns.

One realm serves the whole fleet (``digitalhubs`` unless configured), so it is
not part of any hub's stack: ``realm_program`` is its own stack
(``realm-<name>``), brought up before the first hub and never destroyed by a
hub's `destroy`.  What hubkit owns there (BSI ORP.4.A21/A22, our audit row 23):

- brute-force detection: after ``MAX_LOGIN_FAILURES`` failures an account is
  locked for a growing wait (temporary lockout, so a guessing attacker cannot
  lock staff out for good);
- a second factor for administrators: the realm role ``mfa-required``; the
  realm's browser flow asks for a one-time password (TOTP, configured at the
  first login) whenever the user holds that role, directly or through a
  composite; each hub's admin role is such a composite.
"""

from __future__ import annotations

import pulumi
import pulumi_keycloak as keycloak

MFA_ROLE = "mfa-required"
FLOW = "hubkit-browser"
MAX_LOGIN_FAILURES = 5


class FleetRealm(pulumi.ComponentResource):
    def __init__(self, name: str, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("hubkit:fleet:FleetRealm", f"realm-{name}", None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.realm = keycloak.Realm(
            f"realm-{name}", realm=name, enabled=True, display_name="DigitalHubs",
            security_defenses=keycloak.RealmSecurityDefensesArgs(
                brute_force_detection=keycloak.RealmSecurityDefensesBruteForceDetectionArgs(
                    permanent_lockout=False, max_login_failures=MAX_LOGIN_FAILURES,
                    wait_increment_seconds=60, quick_login_check_milli_seconds=1000,
                    minimum_quick_login_wait_seconds=60, max_failure_wait_seconds=900,
                    failure_reset_time_seconds=43200)),
            otp_policy=keycloak.RealmOtpPolicyArgs(type="totp", algorithm="HmacSHA256", digits=6,
                                                   period=30, look_ahead_window=1),
            password_policy="length(12) and notUsername and notEmail",
            opts=child)
        realm_id = self.realm.id
        self.mfa_role = keycloak.Role(f"realm-{name}-{MFA_ROLE}", realm_id=realm_id, name=MFA_ROLE,
                                      description="Holders must log in with a one-time password",
                                      opts=child)
        # The browser flow, built in order (the provider orders executions by creation).
        flow = keycloak.authentication.Flow(f"realm-{name}-flow", realm_id=realm_id, alias=FLOW,
                                            description="Browser login; OTP for mfa-required", opts=child)
        after = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[flow])
        cookie = keycloak.authentication.Execution(
            f"realm-{name}-cookie", realm_id=realm_id, parent_flow_alias=flow.alias,
            authenticator="auth-cookie", requirement="ALTERNATIVE", opts=after)
        forms = keycloak.authentication.Subflow(
            f"realm-{name}-forms", realm_id=realm_id, parent_flow_alias=flow.alias,
            alias=f"{FLOW}-forms", provider_id="basic-flow", requirement="ALTERNATIVE",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[cookie]))
        password = keycloak.authentication.Execution(
            f"realm-{name}-password", realm_id=realm_id, parent_flow_alias=forms.alias,
            authenticator="auth-username-password-form", requirement="REQUIRED",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[forms]))
        mfa = keycloak.authentication.Subflow(
            f"realm-{name}-mfa", realm_id=realm_id, parent_flow_alias=forms.alias,
            alias=f"{FLOW}-mfa", provider_id="basic-flow", requirement="CONDITIONAL",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[password]))
        condition = keycloak.authentication.Execution(
            f"realm-{name}-mfa-condition", realm_id=realm_id, parent_flow_alias=mfa.alias,
            authenticator="conditional-user-role", requirement="REQUIRED",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[mfa]))
        keycloak.authentication.ExecutionConfig(
            f"realm-{name}-mfa-condition-config", realm_id=realm_id, execution_id=condition.id,
            alias="hubkit-mfa-role", config={"condUserRole": MFA_ROLE, "negate": "false"}, opts=child)
        otp = keycloak.authentication.Execution(
            f"realm-{name}-otp", realm_id=realm_id, parent_flow_alias=mfa.alias,
            authenticator="auth-otp-form", requirement="REQUIRED",
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[condition]))
        keycloak.authentication.Bindings(
            f"realm-{name}-bindings", realm_id=realm_id, browser_flow=flow.alias,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[otp]))
        self.register_outputs({"realm": self.realm.realm, "mfa_role_id": self.mfa_role.id})
