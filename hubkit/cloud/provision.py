"""Real runs of the hub's program through ``pulumi.automation``.

The run is built as a value first (``RunSpec``: backend, work dir, stack,
secrets provider), then executed, so that tests can check every option
without the engine.  Before anything is written, the ``pulumi`` executable
and the passphrase are checked: without them the run stops with exit 3 and
leaves no trace (no state dir, no work dir, no ``/tmp/automation-*``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubkit.errors import HubkitError, PrerequisiteError
from hubkit.model import Hub

PROJECT = "hubkit-hub"
STATE_DIR = Path(".hubkit") / "state"
WORK_DIR = Path(".hubkit") / "work"
STATE_URL_ENV = "HUBKIT_STATE_URL"
PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"
SECRETS_PROVIDER = "passphrase"
INSTALL_HINT = ("build it with `bash .ci/setup --lab` in the hubkit checkout (the engine from its Go module, "
                "into /var/cache/hubkit/bin), or put `pulumi` on PATH, or set HUBKIT_PULUMI_BIN to its directory")
ACTIONS = ("preview", "up", "destroy")


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs except secrets (which stay in the environment)."""

    hub_id: str
    action: str
    backend_url: str
    state_dir: Path | None      # the local file backend's directory, if that is the backend
    work_dir: Path
    stack_name: str
    project: str = PROJECT
    secrets_provider: str = SECRETS_PROVIDER
    env_vars: dict[str, str] = field(default_factory=dict, repr=False)
    # A lab run (the engine runs in the lab's mgmt netns against its Keycloak).
    lab: bool = False


def backend_url(fleet_root: Path, env: Mapping[str, str] | None = None) -> tuple[str, Path | None]:
    """``HUBKIT_STATE_URL`` (S3, PostgreSQL, ...) or the file backend under the fleet."""
    env = os.environ if env is None else env
    url = env.get(STATE_URL_ENV)
    if url:
        if url.startswith("file://"):
            return url, Path(url[len("file://"):])
        return url, None
    state = Path(fleet_root).resolve() / STATE_DIR
    return f"file://{state}", state


def build_spec(fleet_root: Path, hub_id: str, action: str,
               env: Mapping[str, str] | None = None, *, stack_name: str | None = None,
               provider_env: Mapping[str, str] | None = None, lab_dir: Path | None = None) -> RunSpec:
    """``provider_env``: settings the providers read (the lab's Keycloak URL and login).

    ``lab_dir``: a lab run keeps its state with the lab (``<lab>/pulumi/state``),
    which goes with the lab's Keycloak: a new lab starts from nothing, and the
    site's state in the fleet never holds a lab's resources.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if lab_dir is not None:
        state = Path(lab_dir) / "pulumi" / "state"
        url, work = f"file://{state}", Path(lab_dir) / "pulumi" / "work"
    else:
        url, state = backend_url(fleet_root, env)
        work = Path(fleet_root).resolve() / WORK_DIR / hub_id
    return RunSpec(
        hub_id=hub_id, action=action, backend_url=url, state_dir=state,
        work_dir=work, stack_name=stack_name or hub_id,
        # No update-check traffic, no plugin downloads; the passphrase stays in our own environment.
        env_vars={"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                  **(provider_env or {})},
        lab=lab_dir is not None,
    )


def cli_path(which=None) -> str | None:
    """Where the ``pulumi`` executable is, or None (``hubkit.cloud.engine`` decides where to look)."""
    if which is not None:
        return which("pulumi")
    from hubkit.cloud import engine
    return engine.find("pulumi")


def check_prerequisites(env: Mapping[str, str] | None = None, which=None) -> str:
    """Return the path of ``pulumi``; raise ``PrerequisiteError`` (exit 3) otherwise.

    Called before anything is written.  The passphrase's value is never read
    into a message.
    """
    env = os.environ if env is None else env
    exe = cli_path(which)
    if exe is None:
        raise PrerequisiteError("the `pulumi` executable was not found on PATH (nor in $HUBKIT_PULUMI_BIN "
                                "or /var/cache/hubkit/bin)", INSTALL_HINT)
    if not env.get(PASSPHRASE_ENV) and not env.get(PASSPHRASE_FILE_ENV):
        raise PrerequisiteError(f"{PASSPHRASE_ENV} is not set: the stack's secrets are encrypted with it",
                                f"export {PASSPHRASE_ENV} (keep it in your password manager, never in the repo)")
    return exe


def workspace_options(spec: RunSpec, pulumi_command=None):
    """The ``LocalWorkspaceOptions`` of a run (a value; creates nothing)."""
    from pulumi import automation as auto
    return auto.LocalWorkspaceOptions(
        work_dir=str(spec.work_dir), pulumi_command=pulumi_command,
        secrets_provider=spec.secrets_provider,
        env_vars=dict(spec.env_vars),
        project_settings=auto.ProjectSettings(
            name=spec.project, runtime="python", backend=auto.ProjectBackend(url=spec.backend_url)),
        stack_settings={spec.stack_name: auto.StackSettings(secrets_provider=spec.secrets_provider)},
    )


def prepare_dirs(spec: RunSpec) -> None:
    """Create the state (0700: it holds encrypted secrets and the salt) and work dirs."""
    for d in (spec.state_dir, spec.work_dir):
        if d is None:
            continue
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(d, 0o700)


def _summary(spec: RunSpec, result, changes: Mapping[str, int] | None) -> dict:
    outputs = {}
    for key, out in sorted((getattr(result, "outputs", None) or {}).items()):
        outputs[key] = "[secret]" if out.secret else out.value
    return {"hub": spec.hub_id, "action": spec.action, "stack": spec.stack_name,
            "backend": _redact_url(spec.backend_url),
            "changes": _changes(changes), "outputs": outputs}


def _changes(changes: Mapping[Any, int] | None) -> dict[str, int]:
    """The engine's OpMap (OpType enum keys) as plain sorted JSON."""
    return {str(getattr(op, "value", op)): int(n) for op, n in
            sorted((changes or {}).items(), key=lambda kv: str(getattr(kv[0], "value", kv[0])))}


def _redact_url(url: str) -> str:
    """Backend URLs can carry credentials (postgres://user:pw@host): never print them."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://[credentials]@{rest.split('@', 1)[1]}"
    return url


def _steps(events: list) -> list[dict]:
    """Per-resource operations from the engine's events: what a preview or up does, exactly."""
    out = []
    for ev in events:
        pre = getattr(ev, "resource_pre_event", None)
        if pre is None or pre.metadata is None:
            continue
        m = pre.metadata
        op = str(getattr(m.op, "value", m.op))
        if op in ("same", "read", "refresh") or m.type.startswith("pulumi:"):
            continue
        out.append({"op": op, "type": m.type, "name": m.urn.rsplit("::", 1)[-1],
                    "diffs": sorted(m.diffs or [])})
    return sorted(out, key=lambda s: (s["type"], s["name"], s["op"]))


PENDING = "pending operations"


def _pending_error(spec: RunSpec, text: str) -> HubkitError:
    """Operations a killed run left pending: name them, and the command that clears them."""
    urns = sorted({line.strip().lstrip("* ").split(",")[0] for line in text.splitlines()
                   if "urn:pulumi:" in line})
    names = ", ".join(u.rsplit("::", 1)[-1] for u in urns) or "see the engine's message"
    return HubkitError(
        f"stack {spec.stack_name} has {len(urns) or 'some'} pending operation(s) from an interrupted run: "
        f"{names}",
        f"`hubkit provision {spec.hub_id}{' --lab' if spec.lab else ''} --clear-pending` removes what those "
        "creates made in the service and drops them from the state; the same run then creates them again")


def run(spec: RunSpec, program: Callable[[], Any], on_output: Callable[[str], None] | None = None,
        which=None, clear_pending: Callable[[list[str]], dict[str, str]] | None = None) -> dict:
    """Execute ``spec``: preview, up or destroy.  Returns a JSON-ready summary.

    ``clear_pending``: before the action, resolve operations an interrupted
    run left pending; given the pending create URNs it returns {urn: id} of
    those that exist in the service (adopted), the rest are dropped.
    """
    exe = check_prerequisites(env={**os.environ, **spec.env_vars}, which=which)
    import logging
    # The inline program's gRPC server logs tracebacks when the engine stops early;
    # the engine's own message says what failed (and users see no traceback).
    logging.getLogger("grpc._server").disabled = True
    from pulumi import automation as auto

    from hubkit.cloud import engine
    prepare_dirs(spec)
    home = spec.work_dir.parent / "pulumi-home"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    # PulumiCommand runs `pulumi version`, and an inline program reads its provider
    # settings, with the process environment: set them there too (hubkit runs this
    # in a child process, so nothing leaks into the caller).
    os.environ.update(engine.offline_env(home))
    os.environ.update(spec.env_vars)
    events: list = []
    for lock in remove_stale_locks(spec):
        if on_output:
            on_output(f"removed the stale lock {lock} of a run that is gone\n")
    try:
        cmd = auto.PulumiCommand(root=str(Path(exe).resolve().parent.parent), skip_version_check=True)
        stack = auto.create_or_select_stack(stack_name=spec.stack_name, project_name=spec.project,
                                            program=program, opts=workspace_options(spec, cmd))
        if clear_pending is not None:
            _resolve_pending(stack, clear_pending, on_output)
        elif spec.action != "preview":
            # The engine would run over them (and create a second user): stop and say so.
            pending = pending_creates(stack)
            if pending:
                raise _pending_error(spec, "\n".join(p["urn"] for p in pending))
        # refresh=True: compare with the service as it is, so drift made by hand
        # (an extra group member, brute-force protection switched off) is shown and repaired.
        if spec.action == "preview":
            res = stack.preview(on_output=on_output, on_event=events.append, diff=False, refresh=True)
            summary = _summary(spec, None, res.change_summary)
        elif spec.action == "up":
            res = stack.up(on_output=on_output, on_event=events.append, refresh=True)
            summary = _summary(spec, res, res.summary.resource_changes)
        else:
            res = stack.destroy(on_output=on_output, on_event=events.append)
            summary = _summary(spec, None, res.summary.resource_changes)
        summary["steps"] = _steps(events)
        return summary
    except FileNotFoundError as e:
        # which() saw it, but it vanished or is not executable: same message.
        raise PrerequisiteError(f"the `pulumi` executable could not be run: {e.strerror}",
                                INSTALL_HINT) from None
    except auto.errors.CommandError as e:
        # stderr of the engine; it never contains the passphrase (read from env).
        text = str(e)
        if PENDING in text:
            raise _pending_error(spec, text) from None
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        detail = next((ln.strip() for ln in lines if "error:" in ln and "stderr" not in ln), None)
        raise HubkitError(f"pulumi {spec.action} of stack {spec.stack_name} failed: "
                          f"{detail or (lines[-1] if lines else 'no output')}",
                          "run with -v to see the engine's output; check provider credentials") from None


def remove_stale_locks(spec: RunSpec) -> list[str]:
    """Locks a killed engine left in the file backend: removed when their process is gone.

    Callers hold the hub lock, so no other hubkit run can own a lock of this
    stack; a lock whose process (on this machine) is dead is a leftover.
    """
    import json
    import socket
    if spec.state_dir is None:
        return []
    removed = []
    for f in sorted((spec.state_dir / ".pulumi" / "locks").rglob(f"{spec.stack_name}/*.json")):
        try:
            info = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        pid, host = info.get("pid"), info.get("hostname") or info.get("host")
        if not isinstance(pid, int) or (host and host != socket.gethostname()):
            continue
        try:
            os.kill(pid, 0)
            continue
        except ProcessLookupError:
            f.unlink(missing_ok=True)
            removed.append(str(f))
        except PermissionError:
            continue
    return removed


def pending_creates(stack) -> list[dict]:
    """Creates a killed run left pending in the state: [{urn, type, inputs}]."""
    deployment = stack.export_stack().deployment or {}
    return [{"urn": op["resource"]["urn"], "type": op["resource"]["type"],
             "inputs": op["resource"].get("inputs") or {}}
            for op in deployment.get("pending_operations") or [] if op.get("type") == "creating"]


def _resolve_pending(stack, lookup, on_output) -> None:
    """Remove what the pending creates made in the service (the next run creates it again,
    owned by the stack), then drop them from the state."""
    pending = pending_creates(stack)
    if pending:
        lookup(pending)
    stack.refresh(clear_pending_creates=True, on_output=on_output)


def inline_program(hub: Hub, passwords: Mapping[str, str]) -> Callable[[], Any]:
    """The inline program the Automation API runs for ``hub``."""
    from hubkit.cloud.stack import load_program
    hubstack = load_program()
    return lambda: hubstack.program(hub, passwords)
