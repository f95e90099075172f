"""One change plan across every layer, and the apply that carries out exactly that.

``plan`` answers, for a change to the fleet, what it would do, without
changing anything:

- **rendered files**: a fresh render (into a temp directory) against
  ``build/<id>/``, as a unified diff;
- **hosts**: Ansible in check mode with diff against that fresh render, per
  host the tasks that would change (no_log tasks show no content);
- **cloud**: the resources to create, update or delete: a real preview where
  the engine and the service are there (the lab's Keycloak; a site with
  credentials), else the offline plan, labelled as intent only.

The plan is saved with the hash of everything it was made from (the hub's
layers, its secrets' fingerprint, the templates and render code, hubkit's
version, the target).  ``apply`` refuses a plan whose hash no longer
matches, like ``terraform apply PLANFILE``; else it renders, provisions,
configures and verifies, under the hub lock, and reports what changed per
host beside what the plan said.  Secret values (from the vault, when the
password is given) are masked everywhere.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from hubkit import __version__
from hubkit.atomic import write_atomic
from hubkit.digest import file_hash
from hubkit.errors import HubkitError, UsageError

PLAN_FILE = "change-plan.json"
SCHEMA = 1
MASK = "[secret]"


def plan_path(fleet_root: Path, hub_id: str) -> Path:
    from hubkit.runs import runs_dir
    return runs_dir(fleet_root, hub_id) / PLAN_FILE


def _fleet_hub(fleet_root: Path, hub_id: str):
    from hubkit.fleet.repo import load_fleet
    from hubkit.rules import valid_hub
    fleet = load_fleet(fleet_root)
    valid_hub(fleet, hub_id)
    return fleet, fleet.hub(hub_id)


def _target(hub_id: str, lab: bool) -> str:
    if not lab:
        return "site"
    from hubkit.open.steps import lab_identity
    ident = lab_identity(hub_id)
    if ident is None:
        from hubkit.errors import PrerequisiteError
        raise PrerequisiteError(f"no lab running for hub {hub_id!r}", f"run `hubkit open {hub_id} --lab` first")
    return f"lab:{ident}"


def input_hash(fleet_root: Path, hub_id: str, lab: bool) -> tuple[str, dict]:
    """(hash, parts) of everything a plan is made from."""
    from hubkit.render import fingerprint
    from hubkit.secrets import public_key_path, vault_path
    fleet, rec = _fleet_hub(fleet_root, hub_id)
    root = Path(fleet_root)
    parts = {"layers": {p: file_hash(root / p) for p in rec.layers},
             "vault": file_hash(vault_path(root, hub_id)), "public_key": file_hash(public_key_path(root, hub_id)),
             "render": fingerprint(), "hubkit": __version__, "target": _target(hub_id, lab)}
    blob = json.dumps(parts, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest(), parts


def _secret_values(fleet_root: Path, hub_id: str) -> list[str]:
    from hubkit.secrets import load_secrets, vault_password
    pw = vault_password(required=False)
    if not pw:
        return []
    data = load_secrets(fleet_root, hub_id, pw)
    return [v for v in [data["vault_wg_private_key"], *data["vault_staff_passwords"].values(), pw] if v]


def mask(obj, secrets: list[str]):
    """Replace every secret value in strings of ``obj`` (defence in depth: none should be there)."""
    if isinstance(obj, str):
        for s in secrets:
            obj = obj.replace(s, MASK)
        return obj
    if isinstance(obj, dict):
        return {k: mask(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask(v, secrets) for v in obj]
    return obj


def _render_part(fleet, hub_id: str, tmp: Path) -> dict:
    from hubkit.render import diff_hub, render_fleet
    res, text = diff_hub(fleet, hub_id)
    render_fleet(fleet, [hub_id], out=tmp, force=True)
    return {"changed": res.changed, "new": res.new, "deleted": res.missing, "diff": text}


def _hosts_part(fleet_root: Path, hub_id: str, lab: bool, rendered: Path, access: dict) -> dict:
    from hubkit import bootstrap as bs
    from hubkit.configure import build_run, execute, hub_access, lab_target
    hub, info, acc = hub_access(fleet_root, hub_id, lab=lab, **access)
    pending = bs.pending(acc, hub, info)
    names = [t.name for t in bs.targets(hub, info)] + [hub.vpn.concentrator.hostname]
    limit = tuple(n for n in names if n not in pending)
    run = build_run(fleet_root, hub_id, lab=lab_target(hub_id) if lab else None, check=True, diff=True,
                    limit=limit, access=acc, rendered=rendered)
    with tempfile.NamedTemporaryFile(prefix="hubkit-plan-", suffix=".log") as log:
        res = execute(run, log_path=Path(log.name), check=True, lab=lab, limit=limit)
    hosts: dict = {}
    for t in res.changed_tasks:
        entry = {"task": t["task"], "role": t.get("role")}
        if t.get("diff"):
            entry["diff"] = t["diff"]
        hosts.setdefault(t["host"], {"changes": []})["changes"].append(entry)
    for t in res.unpredictable_tasks:
        hosts.setdefault(t["host"], {"changes": []}).setdefault("unknown", []).append(t["task"])
    for name in limit:
        hosts.setdefault(name, {"changes": []})
    for f in res.failures:
        hosts.setdefault(f["host"], {"changes": []}).setdefault("failures", []).append(
            {"task": f["task"], "status": f["status"], "msg": f["msg"]})
    for name in pending:
        hosts[name] = {"changes": [], "note": "not bootstrapped yet: apply bootstraps it first"}
    return {"mode": "check", "hosts": dict(sorted(hosts.items())), "rc": res.rc}


def _cloud_part(fleet, hub_id: str, lab: bool) -> dict:
    import os

    from hubkit.cloud import provision
    from hubkit.cloud import run as cloud
    real = lab or all(os.environ.get(k) for k in ("KEYCLOAK_URL", "KEYCLOAK_USER", "KEYCLOAK_PASSWORD"))
    if real and provision.cli_path() is not None:
        s = cloud.real_run(fleet, hub_id, "preview", lab=lab)
        return {"mode": "preview", "note": "a real preview against the services (refreshed first)",
                "steps": s.get("steps", []), "realm_steps": s.get("realm", {}).get("steps", []),
                "real": s["real"], "planned_only": s["planned_only"]}
    the_plan, _found = cloud.offline_plan(fleet, hub_id)
    return {"mode": "offline", "note": "offline plan under mocks: intent only, not compared with real state "
                                       "(no engine or no service credentials here)",
            "steps": [{"op": "create", "type": r.type, "name": r.name, "diffs": []}
                      for r in the_plan.resources if r.custom],
            "realm_steps": [], "real": [], "planned_only": ["identity", "dns", "backup", "monitoring"]}


def make_plan(fleet_root: Path, hub_id: str, *, lab: bool = False, hosts: bool = True, **access) -> dict:
    """The change plan of ``hub_id`` (see the module doc); nothing on hosts or services changes."""
    fleet, _rec = _fleet_hub(fleet_root, hub_id)
    digest, parts = input_hash(fleet_root, hub_id, lab)
    with tempfile.TemporaryDirectory(prefix="hubkit-plan-") as tmp:
        render = _render_part(fleet, hub_id, Path(tmp))
        host_part = _hosts_part(fleet_root, hub_id, lab, Path(tmp) / hub_id, access) if hosts else \
            {"mode": "skipped", "hosts": {}, "note": "not asked for (--no-hosts)"}
    cloud_part = _cloud_part(fleet, hub_id, lab)
    doc = {"schema": SCHEMA, "hub": hub_id, "target": "lab" if lab else "site", "hubkit_version": __version__,
           "input_hash": digest, "inputs": parts, "render": render, "hosts": host_part, "cloud": cloud_part}
    doc["summary"] = summary(doc)
    return mask(doc, _secret_values(fleet_root, hub_id))


def summary(doc: dict) -> dict:
    ops: dict[str, int] = {}
    for s in doc["cloud"]["steps"] + doc["cloud"]["realm_steps"]:
        ops[s["op"]] = ops.get(s["op"], 0) + 1
    r = doc["render"]
    return {"files": len(r["changed"]) + len(r["new"]) + len(r["deleted"]),
            "host_tasks": {h: len(v["changes"]) for h, v in doc["hosts"]["hosts"].items() if v["changes"]},
            "cloud": dict(sorted(ops.items())),
            "changes": bool(r["changed"] or r["new"] or r["deleted"] or ops
                            or any(v["changes"] for v in doc["hosts"]["hosts"].values()))}


def save(fleet_root: Path, hub_id: str, doc: dict, path: Path | None = None) -> Path:
    path = Path(path) if path is not None else plan_path(fleet_root, hub_id)
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def load(fleet_root: Path, hub_id: str, path: Path | None = None) -> dict:
    path = Path(path) if path is not None else plan_path(fleet_root, hub_id)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no plan for hub {hub_id} ({path})", f"run `hubkit plan {hub_id}` first and review it") \
            from None
    except ValueError as e:
        raise HubkitError(f"{path}:1:1: not a hubkit plan ({e})", f"make a new one with `hubkit plan {hub_id}`") \
            from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or doc.get("hub") != hub_id:
        raise HubkitError(f"{path}:1:1: not a plan of hub {hub_id} (schema {SCHEMA})",
                          f"make a new one with `hubkit plan {hub_id}`")
    return doc


def apply(fleet_root: Path, hub_id: str, *, lab: bool = False, plan_file: Path | None = None,
          yes: bool = False, credential=None, say=None, **access) -> dict:
    """Carry out the saved plan: render, provision, configure, verify (under the hub lock)."""
    from hubkit.cloud import run as cloud
    from hubkit.configure import configure
    from hubkit.lock import hub_lock
    from hubkit.render import render_fleet
    say = say or (lambda msg: None)
    doc = load(fleet_root, hub_id, plan_file)
    if doc["target"] != ("lab" if lab else "site"):
        raise UsageError(f"the plan was made for the {doc['target']}, not the {'lab' if lab else 'site'}",
                         f"make a new one: `hubkit plan {hub_id}{' --lab' if lab else ''}`")
    if not lab and not yes:
        raise UsageError("applying to the site's real hosts and services needs confirmation", "re-run with --yes")
    with hub_lock(fleet_root, hub_id, command="apply"):
        digest, parts = input_hash(fleet_root, hub_id, lab)
        if digest != doc["input_hash"]:
            changed = sorted(k for k in parts if parts[k] != doc["inputs"].get(k))
            raise HubkitError(f"the fleet changed since the plan was made ({', '.join(changed)} differ); "
                              "nothing was applied",
                              f"make a new plan (`hubkit plan {hub_id}{' --lab' if lab else ''}`), review it, "
                              "then apply that")
        fleet, _rec = _fleet_hub(fleet_root, hub_id)
        [r] = render_fleet(fleet, [hub_id])
        say(f"render: {'written' if r.written else 'unchanged'}")
        cloud_res = None
        if doc["cloud"]["mode"] == "preview":
            cloud_res = cloud.real_run(fleet, hub_id, "up", lab=lab)
            say(f"cloud: {cloud_res.get('changes')}")
        res = configure(fleet_root, hub_id, lab=lab, credential=credential, **access)
        say(f"configure: {'ok' if res.succeeded else 'FAILED on ' + ', '.join(res.failed_hosts)}")
        if not res.succeeded:
            raise HubkitError(f"apply stopped: configure failed on {', '.join(res.failed_hosts) or 'the run'}",
                              "see .hubkit/runs/<id>/configure.log; fix, plan and apply again")
        from hubkit import verify
        target = verify.resolve(fleet_root, hub_id, lab, **access)
        vres = verify.run(target)
        verify.save_last(fleet_root, vres)
    applied: dict[str, list[str]] = {}
    for t in res.changed_tasks:
        applied.setdefault(t["host"], []).append(t["task"])
    planned = {h: [c["task"] for c in v["changes"]] for h, v in doc["hosts"]["hosts"].items() if v["changes"]}
    return {"hub": hub_id, "target": doc["target"], "input_hash": digest,
            "hosts_changed": {h: sorted(set(ts)) for h, ts in sorted(applied.items())},
            "hosts_planned": {h: sorted(set(ts)) for h, ts in sorted(planned.items())},
            "as_planned": {h: sorted(set(ts)) for h, ts in applied.items()} ==
                          {h: sorted(set(ts)) for h, ts in planned.items()},
            "cloud": {k: v for k, v in (cloud_res or {}).get("changes", {}).items() if k != "same"},
            "verify": vres.summary, "ok": vres.ok}
