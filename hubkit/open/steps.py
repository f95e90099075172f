"""The real steps of `hubkit open`, each calling another part's Python API.

Every step's ``inputs`` names what its result depends on, including what
earlier steps produced (render manifest, lab identity, configure recap), so
the pipeline re-runs exactly the steps whose world changed.  Hashes only:
no secret value ever reaches the journal (the secrets fingerprint is a
sha256 over the decrypted vault, which cannot be reversed).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hubkit import __version__
from hubkit.atomic import write_json
from hubkit.errors import FindingsError, HubkitError, PrerequisiteError, UsageError
from hubkit.digest import file_hash, tree_hash
from hubkit.open.journal import digest
from hubkit.paths import PLAYBOOKS, STACKS, TEMPLATES
from hubkit.open import RunContext, Skipped, Step
from hubkit.runs import runs_dir

AUDIT_SRC = Path(__file__).resolve().parents[1] / "audit"


def _fleet(ctx: RunContext):
    if "fleet" not in ctx.data:
        from hubkit.fleet.repo import load_fleet
        ctx.data["fleet"] = load_fleet(ctx.fleet_root)
    return ctx.data["fleet"]


def _reload(ctx: RunContext):
    ctx.data.pop("fleet", None)
    return _fleet(ctx)


def _hub(ctx: RunContext):
    rec = _fleet(ctx).hub(ctx.hub_id)
    if rec.model is None:
        raise FindingsError(rec.findings)
    return rec.model


def _hub_json(ctx: RunContext) -> dict:
    return json.loads(_hub(ctx).model_dump_json())


def _runs(ctx: RunContext) -> Path:
    return runs_dir(ctx.fleet_root, ctx.hub_id)


def _build(ctx: RunContext) -> Path:
    return Path(ctx.fleet_root) / "build" / ctx.hub_id


def _vault_fingerprint(ctx: RunContext) -> str | None:
    from hubkit import secrets
    if not secrets.vault_path(ctx.fleet_root, ctx.hub_id).is_file():
        return None
    data = secrets.load_secrets(ctx.fleet_root, ctx.hub_id, secrets.vault_password())
    return hashlib.sha256(b"hubkit-secrets-fingerprint\0" +
                          json.dumps(data, sort_keys=True).encode()).hexdigest()


def lab_identity(hub_id: str) -> str | None:
    """Changes whenever the lab is recreated (new processes, namespaces, image)."""
    from hubkit.lab.state import State
    st = State.load(hub_id)
    if st is None or st.get("phase") != "up":
        return None
    return digest({k: st.get(k) for k in ("image", "mode", "netns", "processes", "prefix")})


def _lab_healthy(hub_id: str) -> bool:
    from hubkit.lab.lab import healthy
    try:
        return healthy(hub_id)
    except (OSError, HubkitError):
        return False


def _no_lab(ctx: RunContext) -> str | None:
    return None if ctx.lab else "not requested (pass --lab to open in the lab)"


# ---------------------------------------------------------------- steps

def _validate_inputs(ctx):
    rec = _reload(ctx).hub(ctx.hub_id)
    return {"layers": {p: file_hash(Path(ctx.fleet_root) / p) for p in rec.layers},
            "rules": tree_hash(Path(__file__).resolve().parents[1] / "rules"),
            "loader": tree_hash(Path(__file__).resolve().parents[1] / "fleet"),
            "model": file_hash(Path(__file__).resolve().parents[1] / "model.py"), "version": __version__}


def _validate(ctx):
    from hubkit.rules import validate
    found = validate(_fleet(ctx), [ctx.hub_id])
    errors = [f for f in found if f.severity == "error"]
    if errors:
        raise FindingsError(errors)
    return f"valid ({len(found)} warning(s))" if found else "valid"


def _secrets_inputs(ctx):
    # Not the vault itself: the step creates it, so its hash would differ on every run.
    return {"staff": sorted(m.username for m in _hub(ctx).staff)}


def _secrets_current(ctx):
    from hubkit import secrets
    if not secrets.vault_path(ctx.fleet_root, ctx.hub_id).is_file():
        return False
    data = secrets.load_secrets(ctx.fleet_root, ctx.hub_id, secrets.vault_password())
    return bool(data["vault_wg_private_key"]) and \
        all(m.username in data["vault_staff_passwords"] for m in _hub(ctx).staff)


def _secrets(ctx):
    from hubkit import secrets
    res = secrets.init_secrets(ctx.fleet_root, ctx.hub_id, [m.username for m in _hub(ctx).staff],
                               secrets.vault_password())
    return f"created {len(res.created)}, kept {len(res.kept)}"


def _render_inputs(ctx):
    from hubkit.secrets import read_public_key
    return {"hub": _hub_json(ctx), "public_key": read_public_key(ctx.fleet_root, ctx.hub_id),
            "templates": tree_hash(TEMPLATES),
            "render_code": tree_hash(Path(__file__).resolve().parents[1] / "render"),
            "version": __version__}


def _render_current(ctx):
    from hubkit.render.tree import verify_manifest
    b = _build(ctx)
    return b.is_dir() and not verify_manifest(b)


def _render(ctx):
    from hubkit.render import render_fleet
    [res] = render_fleet(_fleet(ctx), [ctx.hub_id])
    return f"{res.files} files, " + ("written" if res.written else "unchanged")


# The cloud step either provisions (a real site: every part; the lab: the identity part
# against the lab's own Keycloak, the rest in the offline plan) or is skipped
# (--skip-cloud).  Which one is decided by ``_cloud_mode`` alone.

def _cloud_mode(ctx) -> str:
    """skipped (--skip-cloud) or provisioned: at a site every part, in the lab the identity
    part against the lab's Keycloak (the other parts only in the offline plan)."""
    return "skipped" if ctx.skip_cloud else "provisioned"


def _cloud_preflight(ctx):
    """Before anything is written: opening needs the Pulumi engine (or --skip-cloud), and a
    real site --yes."""
    from hubkit.cloud import provision
    if _cloud_mode(ctx) != "provisioned":
        return
    try:
        # A lab brings its own state passphrase (hubkit.cloud.run); a site needs the operator's.
        provision.check_prerequisites(env={provision.PASSPHRASE_ENV: "lab"} if ctx.lab else None)
    except PrerequisiteError as e:
        what = ("opening in the lab provisions the identity part against the lab's Keycloak"
                if ctx.lab else "opening the real site provisions its cloud services "
                "(identity group and users, DNS zone, backup container, monitoring)")
        raise PrerequisiteError(
            f"{e.message}; {what}, so nothing was done",
            f"{e.hint}; or pass --skip-cloud to open without them (recorded as skipped)"
            + ("" if ctx.lab else f", or rehearse with `hubkit open {ctx.hub_id} --lab`")) from None
    if not ctx.yes and not ctx.lab:
        raise UsageError("provisioning creates real cloud resources and needs confirmation",
                         f"re-run with --yes: `hubkit open {ctx.hub_id} --yes`")


def _cloud_inputs(ctx):
    from hubkit.cloud import provision
    return {"hub": _hub_json(ctx), "stacks": tree_hash(STACKS), "templates": tree_hash(TEMPLATES / "pulumi"),
            "cli": bool(provision.cli_path()), "mode": _cloud_mode(ctx), "version": __version__,
            "secrets": _vault_fingerprint(ctx),
            # A new lab is a new, empty Keycloak: provision again.
            "target": lab_identity(ctx.hub_id) if ctx.lab else "site"}


def _cloud_current(ctx):
    """A provisioned stack that `hubkit destroy` removed since must be provisioned again."""
    from hubkit.cloud import record
    if _cloud_mode(ctx) != "provisioned":
        return True
    rec = record.read(ctx.fleet_root, ctx.hub_id)
    if ctx.lab:
        from hubkit.lab import keycloak
        if keycloak.state(ctx.hub_id) != "running":
            return False
    return rec is not None and rec.provisioned


def _cloud(ctx):
    from hubkit.cloud import record
    from hubkit.cloud import run as cloud
    mode = _cloud_mode(ctx)
    if mode == "skipped":
        why = ("--skip-cloud: the identity group and users, DNS zone, backup container and "
               "monitoring were not provisioned")
        record.write(ctx.fleet_root, ctx.hub_id, record.CloudRecord(mode="skipped", detail=why))
        return Skipped(why)
    # The offline plan of every part: the audit's planned evidence, and all a lab has of
    # the parts it cannot run (DNS, backup, monitoring).
    plan, found = cloud.offline_plan(_fleet(ctx), ctx.hub_id)
    errors = [f for f in found if f.severity == "error"]
    if errors:
        raise FindingsError(errors)
    write_json(_runs(ctx) / "plan.json", plan.to_json())
    res = cloud.real_run(_fleet(ctx), ctx.hub_id, "up", lab=ctx.lab)  # writes the cloud record itself
    changes = {k: v for k, v in res.get("changes", {}).items() if k != "same"}
    return (f"provisioned for real: {', '.join(res['real'])} ({json.dumps(changes, sort_keys=True)})"
            + (f"; planned only: {', '.join(res['planned_only'])}" if res["planned_only"] else ""))


def _lab_inputs(ctx):
    from hubkit.lab import image
    return {"hub": _hub_json(ctx), "image": image.image_hash(), "factory": ctx.factory}


def _lab_current(ctx):
    return _lab_healthy(ctx.hub_id)


def _lab(ctx):
    from hubkit import lab
    from hubkit.lab.state import State
    rec = _fleet(ctx).hub(ctx.hub_id)
    # A lab built from an older hub description must be rebuilt; a healthy lab
    # of the same description (e.g. brought up by hand) is reused.
    rebuild = ctx.data.get("reason", {}).get("lab") == "inputs changed" and State.load(ctx.hub_id) is not None
    res = lab.up(rec, rebuild=rebuild, factory=ctx.factory)
    if _cloud_mode(ctx) == "provisioned":
        # Starts with the lab and boots while the cloud step's engine starts and bootstrap runs.
        from hubkit.lab import keycloak
        keycloak.start(ctx.hub_id)
    st = lab.status(ctx.hub_id)
    return ("reused" if res.get("noop") else f"up in {res.get('seconds')} s") + \
        f", {len(st['hosts'])} hosts, mode {st['mode']}" + (", factory state" if ctx.factory else "") + \
        (f"; machine-wide: {res['sysctl']}" if res.get("sysctl") else "")


def _access(ctx):
    from hubkit.configure import hub_access
    return hub_access(ctx.fleet_root, ctx.hub_id, lab=ctx.lab, **ctx.access)


def _pending(ctx) -> list[str]:
    from hubkit.bootstrap import pending
    hub, info, access = _access(ctx)
    return pending(access, hub, info)


def _bootstrap_inputs(ctx):
    _hub, _info, access = _access(ctx)
    return {"target": lab_identity(ctx.hub_id) if ctx.lab else "site",
            "known_hosts": file_hash(access.known_hosts),
            "admins": [a.model_dump(mode="json") for a in _hub.hub_admins()]}


def _bootstrap_current(ctx):
    return (not ctx.lab or _lab_healthy(ctx.hub_id)) and not _pending(ctx)


def _bootstrap_preflight(ctx):
    """A real site: confirmation, and the installer credential for hosts never bootstrapped
    (decided from the recorded host keys alone, before anything is written or contacted)."""
    if ctx.lab:
        return
    if not ctx.yes:
        raise UsageError("bootstrapping the site's delivered hosts needs confirmation",
                         f"re-run with --yes, or open in the lab: `hubkit open {ctx.hub_id} --lab`")
    todo = _pending(ctx)
    if todo and ctx.credential is None:
        raise PrerequisiteError(
            f"{', '.join(todo)} of hub {ctx.hub_id} were never bootstrapped (no host key recorded in "
            f"known_hosts/{ctx.hub_id})",
            f"give the installer credential: `hubkit open {ctx.hub_id} --yes --installer-key FILE` "
            "(or --installer-password)")


def _bootstrap(ctx):
    from hubkit.bootstrap import bootstrap
    res = bootstrap(ctx.fleet_root, ctx.hub_id, lab=ctx.lab, credential=ctx.credential,
                    verbosity=max(ctx.verbose - 1, 0), **ctx.access)
    counts: dict[str, int] = {}
    for h in res.hosts:
        counts[h.status] = counts.get(h.status, 0) + 1
    if not res.ok:
        bad = ", ".join(f"{h.name} ({h.status})" for h in res.hosts
                        if h.status not in ("already", "bootstrapped", "vendor"))
        raise HubkitError(f"bootstrap failed on {bad}", f"see {res.log_path}" if res.log_path else
                          "check that the hosts answer SSH from here (address, cabling, jump host)")
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _configure_inputs(ctx):
    # The roles' verify suites and the probes are verify's inputs, not configure's.
    return {"manifest": file_hash(_build(ctx) / "manifest.json"),
            "playbooks": tree_hash(PLAYBOOKS, skip=("__pycache__", "verify", "probes")),
            "secrets": _vault_fingerprint(ctx),
            "target": lab_identity(ctx.hub_id) if ctx.lab else "site"}


def _configure_preflight(ctx):
    if not ctx.lab and not ctx.yes:
        raise UsageError("configuring the site's real hosts needs confirmation",
                         f"re-run with --yes, or open in the lab: `hubkit open {ctx.hub_id} --lab`")


def _configure(ctx):
    from hubkit import configure
    from hubkit.lab.standin import before_configure
    # A vendor switch is checked before anything changes; said in the step's message
    # (output and journal).
    notes = before_configure(_build(ctx), _hub(ctx), ctx.lab)
    res = configure.configure(ctx.fleet_root, ctx.hub_id, lab=ctx.lab, verbosity=max(ctx.verbose - 1, 0),
                              credential=ctx.credential, **ctx.access)
    if not res.succeeded:
        where = ", ".join(res.failed_hosts) or f"ansible-playbook exit {res.rc}"
        raise HubkitError(f"configure failed on {where}",
                          f"see {_runs(ctx) / 'configure.log'}")
    changed = sum(h.changed for h in res.hosts.values())
    return "; ".join([f"{len(res.hosts)} hosts, changed={changed}", *notes])


def _verify_inputs(ctx):
    return {"configure": file_hash(_runs(ctx) / "configure.json"),
            "manifest": file_hash(_build(ctx) / "manifest.json"),
            "suites": tree_hash(PLAYBOOKS / "roles"), "probes": tree_hash(PLAYBOOKS / "probes"),
            "target": lab_identity(ctx.hub_id) if ctx.lab else "site"}


def _verify(ctx):
    from hubkit import verify
    target = verify.resolve(ctx.fleet_root, ctx.hub_id, lab=ctx.lab, **ctx.access)
    result = verify.run(target)
    verify.save_last(ctx.fleet_root, result)
    s = result.summary
    if not result.ok:
        bad = result.failed()
        names = ", ".join(f"{c.host}:{c.id}" for c in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise HubkitError(f"{s['failed']} failed and {s['error']} errored of {len(result.checks)} checks: "
                          f"{names}", f"`hubkit verify {ctx.hub_id}{' --lab' if ctx.lab else ''}` "
                          "shows each check's message")
    return f"{s['passed']} passed, {s['skipped']} skipped"


def _audit_inputs(ctx):
    from hubkit.audit.manual import fingerprint as manual_fingerprint
    rec = _fleet(ctx).hub(ctx.hub_id)
    return {"verify": file_hash(_runs(ctx) / "verify.json"),
            "configure": file_hash(_runs(ctx) / "configure.json"),
            "manifest": file_hash(_build(ctx) / "manifest.json"),
            "plan": file_hash(_runs(ctx) / "plan.json"),
            "cloud": file_hash(_runs(ctx) / "cloud.json"),
            "layers": {p: file_hash(Path(ctx.fleet_root) / p) for p in rec.layers},
            "manual": manual_fingerprint(ctx.fleet_root, ctx.hub_id),
            "audit_code": tree_hash(AUDIT_SRC), "lab": ctx.lab, "version": __version__}


def _audit_current(ctx):
    d = Path(ctx.fleet_root) / "audit" / ctx.hub_id
    return (d / "report.html").is_file() and (d / "evidence.json").is_file()


def _audit(ctx):
    from hubkit.audit import run_audit
    from hubkit.secrets import vault_password
    res = run_audit(ctx.fleet_root, ctx.hub_id, lab=ctx.lab, vault_password=vault_password(required=False))
    c = res.counts
    return (f"{c['pass']} pass, {c['designed']} designed, {c['fail']} fail, {c['manual']} manual, "
            f"{c['not_applicable']} n/a")


STEPS: tuple[Step, ...] = (
    Step("validate", _validate, _validate_inputs),
    Step("secrets", _secrets, _secrets_inputs, current=_secrets_current),
    Step("render", _render, _render_inputs, current=_render_current),
    Step("lab", _lab, _lab_inputs, current=_lab_current, disabled=_no_lab),
    # In the background: the engine, the providers and (in the lab) Keycloak's boot overlap
    # bootstrap and configure, which do not depend on them; verify's identity probes and the
    # audit read what it made.
    Step("cloud", _cloud, _cloud_inputs, current=_cloud_current, preflight=_cloud_preflight,
         background=True),
    Step("bootstrap", _bootstrap, _bootstrap_inputs, current=_bootstrap_current, preflight=_bootstrap_preflight),
    Step("configure", _configure, _configure_inputs, preflight=_configure_preflight,
         current=lambda ctx: not ctx.lab or _lab_healthy(ctx.hub_id)),
    Step("verify", _verify, _verify_inputs, needs=("cloud",),
         current=lambda ctx: not ctx.lab or _lab_healthy(ctx.hub_id)),
    Step("audit", _audit, _audit_inputs, current=_audit_current, needs=("cloud",)),
)


def steps() -> list[Step]:
    return list(STEPS)
