"""Policies over an offline plan, in the spirit of CrossGuard.

Each policy is a small function ``(plan) -> list[Finding]`` with a stable
HK2xx code.  They read only the masked plan, so they run offline, in CI,
without credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from hubkit.cloud.plan import SECRET, Plan, PlannedResource
from hubkit.errors import Finding

USER = "keycloak:index/user:User"
CONTAINER = "openstack:objectstorage/container:Container"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
UPDATE_PASSWORD = "UPDATE_PASSWORD"

Policy = Callable[[Plan], list[Finding]]


def _finding(plan: Plan, code: str, r: PlannedResource | None, message: str, hint: str) -> Finding:
    where = f"{r.urn}: " if r else ""
    return Finding(code, where + message, None, hint, plan.hub)


def user_forced_password_change(plan: Plan) -> list[Finding]:
    """HK201: every user must change the initial password at first login."""
    out = []
    for r in plan.by_type(USER):
        actions = r.inputs.get("requiredActions") or []
        if UPDATE_PASSWORD not in actions:
            out.append(_finding(plan, "HK201", r, "user without forced password change",
                                f"add required action {UPDATE_PASSWORD}"))
    return out


def backup_versioning(plan: Plan) -> list[Finding]:
    """HK202: a backup container without versioning is refused."""
    return [_finding(plan, "HK202", r, "backup container without versioning", "set versioning=True")
            for r in plan.by_type(CONTAINER) if r.inputs.get("versioning") is not True]


def name_prefix(plan: Plan) -> list[Finding]:
    """HK203: every resource's name starts with '<hub id>-' (one hub's stack, one namespace)."""
    prefix = f"{plan.hub}-"
    return [_finding(plan, "HK203", r, f"resource name {r.name!r} is outside the hub prefix {prefix!r}",
                     f"name it {prefix}...")
            for r in plan.resources if not r.name.startswith(prefix)]


def initial_password_secret(plan: Plan) -> list[Finding]:
    """HK204: initial passwords are Pulumi secrets (encrypted in state, masked in plans)."""
    out = []
    for r in plan.by_type(USER):
        pw = r.inputs.get("initialPassword")
        if pw is None or (pw != SECRET and (not isinstance(pw, dict) or pw.get("value") != SECRET)):
            out.append(_finding(plan, "HK204", r, "initial password is missing or not a secret",
                                "wrap it with pulumi.Output.secret"))
    return out


def unique_names(plan: Plan) -> list[Finding]:
    """HK205: no two resources share a URN (the mocks would hide it; the engine refuses it)."""
    return [Finding("HK205", f"{urn}: declared more than once", None,
                    "give each resource a unique name", plan.hub) for urn in plan.duplicates]


def dashboard_json(plan: Plan) -> list[Finding]:
    """HK206: dashboards carry valid JSON."""
    out = []
    for r in plan.by_type(DASHBOARD):
        try:
            json.loads(r.inputs.get("configJson") or "")
        except ValueError as e:
            out.append(_finding(plan, "HK206", r, f"dashboard JSON is invalid: {e}",
                                "fix templates/pulumi/dashboard.json.j2"))
    return out


POLICIES: dict[str, Policy] = {
    "HK201": user_forced_password_change,
    "HK202": backup_versioning,
    "HK203": name_prefix,
    "HK204": initial_password_secret,
    "HK205": unique_names,
    "HK206": dashboard_json,
}


def check(plan: Plan) -> list[Finding]:
    found = [f for policy in POLICIES.values() for f in policy(plan)]
    return sorted(found, key=lambda f: (f.code, f.message))
