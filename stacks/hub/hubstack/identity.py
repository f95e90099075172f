"""HubIdentity: the hub's Keycloak group, staff users, membership and admin role.

The realm itself and its settings belong to the fleet (``hubstack.realm``); a
hub only adds what is its own, so destroying a hub removes exactly that.  The
hub's admin role is a composite of the realm's ``mfa-required`` role: its
holders must log in with a one-time password.  No user attributes: Keycloak 24+
drops attributes its user profile does not declare, and group membership and
role already say which hub and role a user has.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_keycloak as keycloak

from hubkit.model import Hub

UPDATE_PASSWORD = "UPDATE_PASSWORD"
# Staff roles that get the hub-admin realm role.
ADMIN_ROLES = frozenset({"lead"})


def group_name(hub: Hub) -> str:
    return hub.services.identity_group or f"hub-{hub.id}"


class HubIdentity(pulumi.ComponentResource):
    def __init__(self, hub: Hub, passwords: Mapping[str, pulumi.Input[str]],
                 provider: pulumi.ProviderResource, realm: str,
                 opts: pulumi.ResourceOptions | None = None):
        from hubstack.realm import MFA_ROLE
        super().__init__("hubkit:hub:HubIdentity", f"{hub.id}-identity", None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        p = hub.id
        self.group = keycloak.Group(f"{p}-group", realm_id=realm, name=group_name(hub),
                                    attributes={"hub": hub.id}, opts=child)
        mfa = keycloak.get_role_output(realm_id=realm, name=MFA_ROLE,
                                       opts=pulumi.InvokeOptions(provider=provider))
        self.admin_role = keycloak.Role(f"{p}-admin-role", realm_id=realm, name=f"{group_name(hub)}-admin",
                                        description=f"Administrators of {hub.name} (second factor required)",
                                        composite_roles=[mfa.id], opts=child)
        self.users: dict[str, keycloak.User] = {}
        for member in hub.staff:
            first, _, last = member.full_name.rpartition(" ")
            pw = passwords.get(member.username)
            if pw is None:
                raise ValueError(f"no initial password for staff member {member.username!r}")
            user = keycloak.User(
                f"{p}-user-{member.username}", realm_id=realm, username=member.username,
                first_name=first or last, last_name=last, enabled=True,
                # Secret: encrypted in state, masked in every plan and log.
                initial_password=keycloak.UserInitialPasswordArgs(
                    value=pulumi.Output.secret(pw), temporary=True),
                required_actions=[UPDATE_PASSWORD], opts=child)
            self.users[member.username] = user
            if member.role in ADMIN_ROLES:
                keycloak.UserRoles(f"{p}-roles-{member.username}", realm_id=realm, user_id=user.id,
                                   role_ids=[self.admin_role.id], exhaustive=False, opts=child)
        if self.users:
            keycloak.GroupMemberships(
                f"{p}-members", realm_id=realm, group_id=self.group.id,
                members=[u.username for u in self.users.values()], opts=child)
        self.register_outputs({"group_id": self.group.id, "users": sorted(self.users)})
