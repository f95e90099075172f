"""Checks of what the repository and the other parts recorded: manifest, git, plan, runs, archive."""

from __future__ import annotations

import hashlib

from hubkit.audit.checks import check
from hubkit.audit.model import PLANNED, RECORDED, RENDERED, Evidence


@check("manifest.integrity", "NET.3.1.A8")
def manifest_integrity(src):
    if src.manifest is None:
        return
    files = src.manifest.get("files", {})
    bad = []
    for rel, want in sorted(files.items()):
        p = src.build_dir / rel
        got = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        if got != want:
            bad.append(rel)
    yield Evidence("manifest.integrity", RECORDED, bool(files) and not bad, "rendered configs match their sha256 manifest",
                   f"{len(files)} files, all hashes match manifest.json; render --check re-derives them from the "
                   "fleet repo" if files and not bad else
                   f"{len(bad)} file(s) differ from the manifest: {', '.join(bad[:5])}" if bad
                   else "the manifest lists no files", src.ref("manifest.json"))


@check("build.archived", "NET.3.1.A8")
def build_archived(src):
    """The audited build, archived with its manifest (hubkit.audit.archive): the backup an
    auditor can restore the exact configuration from."""
    a = src.archive
    if a is None:
        return
    ok = not a["problems"]
    yield Evidence("build.archived", RECORDED, ok, "the audited build is archived with its manifest",
                   f"{a['path']}: {a['files']} files, sha256 {a['sha256']}; every file matches the manifest"
                   if ok else "; ".join(a["problems"]), a["path"])


@check("git.history", "NET.3.1.A8", "NET.3.3.A5")
def git_history(src):
    g = src.git
    if not g:
        return
    ok = bool(g.get("commits")) and not g.get("dirty")
    yield Evidence("git.history", RECORDED, ok, "the hub's files and its build are committed (reviewed changes only)",
                   f"{len(g.get('commits', []))} commit(s) touch them; working tree clean" if ok
                   else "uncommitted changes to: " + ", ".join(g.get("dirty") or []) if g.get("dirty")
                   else "no commit touches the hub's files", ", ".join(g.get("files", [])))


@check("topology.rendered", "NET.1.1.A2")
def topology_rendered(src):
    svg = src.read("docs/topology.svg")
    hb = src.read("docs/handbook.md")
    if svg is None and hb is None:
        return
    names = [h.name for h in src.topo.hosts() if h.role != "core"]
    missing = [n for n in names if svg is None or n not in svg]
    ok = svg is not None and hb is not None and not missing
    yield Evidence("topology.rendered", RENDERED, ok, "network plan (topology and handbook) generated from the hub file",
                   f"topology.svg shows all {len(names)} hosts; regenerated on every render" if ok
                   else "handbook missing" if hb is None else f"hosts missing from the plan: {', '.join(missing)}",
                   src.ref("docs/topology.svg"))


def _plan_note(src) -> str:
    note = "offline plan: intent only, not compared with real state"
    if src.cloud is None or not src.cloud.provisioned:
        # Said on the evidence itself: these rows rest on a plan of services that do not exist.
        note += "; the cloud services were not provisioned"
    return note


def _resources(src, type_: str) -> list[dict]:
    return [r for r in (src.plan or {}).get("resources", []) if r.get("type") == type_]


USER, ROLE, USER_ROLES = "keycloak:index/user:User", "keycloak:index/role:Role", "keycloak:index/userRoles:UserRoles"
CONTAINER = "openstack:objectstorage/container:Container"


@check("plan.forced_password_change", "ORP.4.A23")
def forced_password_change(src):
    users = _resources(src, USER)
    if not users:
        return
    codes = {f.code for f in src.plan_findings}
    ok = "HK201" not in codes and "HK204" not in codes
    yield Evidence("plan.forced_password_change", PLANNED, ok,
                   "identity users must change their initial password; passwords are secrets",
                   f"{len(users)} user(s) with required action UPDATE_PASSWORD ({_plan_note(src)})"
                   if ok else "policy HK201/HK204 failed", users[0]["urn"])


@check("plan.accounts_personal", "ORP.4.A1", "ORP.4.A2", "ORP.4.A9")
def accounts_personal(src):
    users = _resources(src, USER)
    if not users:
        return
    staff = sorted(m.username for m in src.hub.staff)
    names = sorted(str(r.get("inputs", {}).get("username", "")) for r in users)
    ok = names == staff
    yield Evidence("plan.accounts_personal", PLANNED, ok, "one personal identity account per staff member, no shared accounts",
                   f"{len(names)} accounts for {len(staff)} staff ({_plan_note(src)})" if ok
                   else f"accounts {names} vs staff {staff}", users[0]["urn"])


@check("plan.admin_mfa", "ORP.4.A10")
def admin_mfa(src):
    """The hub's admin role is planned as a composite of the realm's second-factor role, and
    only leads get it.  Whether the realm then asks for the second factor is a live check."""
    roles = [r for r in _resources(src, ROLE) if str(r.get("inputs", {}).get("name", "")).endswith("-admin")]
    if not roles:
        return
    leads = {m.username for m in src.hub.staff if m.role == "lead"}
    users = {r["urn"].rsplit("::", 1)[-1]: r for r in _resources(src, USER)}
    granted = {str(users.get(ur.get("inputs", {}).get("userId", "").removesuffix("-id"), {})
                   .get("inputs", {}).get("username", "?")) for ur in _resources(src, USER_ROLES)}
    no_mfa = [r["inputs"]["name"] for r in roles if not r.get("inputs", {}).get("compositeRoles")]
    ok = not no_mfa and granted <= leads
    yield Evidence("plan.admin_mfa", PLANNED, ok, "the hub's admin role requires a second factor; only leads hold it",
                   f"role {roles[0]['inputs']['name']} composite of the realm's MFA role, granted to "
                   f"{', '.join(sorted(granted)) or 'nobody'} ({_plan_note(src)})" if ok else
                   (f"admin role(s) without the MFA role: {', '.join(no_mfa)}" if no_mfa else
                    f"admin role granted beyond the leads: {', '.join(sorted(granted - leads))}"), roles[0]["urn"])


@check("plan.backup_versioning", "CON.3.A2")
def backup_versioning(src):
    containers = _resources(src, CONTAINER)
    if not containers:
        return
    ok = "HK202" not in {f.code for f in src.plan_findings}
    yield Evidence("plan.backup_versioning", PLANNED, ok, "backup storage is a separate, versioned container",
                   f"{len(containers)} container(s) with versioning ({_plan_note(src)})" if ok
                   else "policy HK202 failed", containers[0]["urn"])


@check("configure.recorded", "NET.3.2.A9", "NET.3.1.A7")
def configure_recorded(src):
    """Configuration changes are recorded per run: the last configure record names its hosts and
    the tasks that changed something (hubkit.configure writes it; a foreign or truncated one fails)."""
    c = src.configure
    if c is None:
        return
    hosts, changed = c.get("hosts"), c.get("changed_tasks")
    ok = isinstance(hosts, dict) and bool(hosts) and isinstance(changed, list) and isinstance(c.get("rc"), int)
    yield Evidence("configure.recorded", RECORDED, ok, "configuration changes are recorded per run",
                   f"the last configure run ({'lab' if c.get('lab') else 'site'}, exit {c.get('rc')}) recorded "
                   f"{len(changed)} changed task(s) on {len(hosts)} host(s)" if ok else
                   "the configure record lacks its hosts, changed tasks or exit code",
                   ".hubkit/runs/<id>/configure.json")
