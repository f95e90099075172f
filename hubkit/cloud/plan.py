"""Offline plan: run the hub's Pulumi program under Pulumi's mocks.

This shows *intent only*: the resources the program would declare, with their
key inputs.  It is not compared with real state (no engine, no providers, no
credentials are involved), so it cannot say what would change.

Secrets are masked as ``[secret]``: the recorded inputs arrive from the
runtime with every secret (and its enclosing object) wrapped, and we replace
the whole wrapper.  ``pulumi.runtime.rpc.is_rpc_secret`` is internal API,
which is why pulumi is pinned.
"""

from __future__ import annotations

import asyncio

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubkit.model import Hub

NOTE = "intent only; not compared with real state"
SECRET = "[secret]"
PROJECT = "hubkit-hub"
PLACEHOLDER_NOTE = ("no vault password given: staff initial passwords are a placeholder "
                    "(wrapped as a Pulumi secret, shown [secret])")
VAULT_NOTE = "staff initial passwords from the vault (Pulumi secrets, shown [secret])"


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str          # parent URN ("" for top-level resources)
    custom: bool         # False for component resources
    provider: str        # provider reference (URN::id) or ""
    inputs: dict         # secrets masked

    def to_json(self) -> dict:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "custom": self.custom, "provider": self.provider, "inputs": self.inputs}


@dataclass
class Plan:
    hub: str
    resources: list[PlannedResource]
    outputs: dict
    duplicates: list[str] = field(default_factory=list)
    passwords: str = "placeholder"   # placeholder | vault | given
    note: str = NOTE

    def by_type(self, typ: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == typ]

    def to_json(self) -> dict:
        return {"hub": self.hub, "mode": "offline", "note": self.note,
                "passwords": self.passwords,
                "resources": [r.to_json() for r in self.resources],
                "outputs": self.outputs, "duplicates": self.duplicates}

    def header(self) -> list[str]:
        pw = {"placeholder": PLACEHOLDER_NOTE, "vault": VAULT_NOTE}.get(
            self.passwords, "staff initial passwords given by the caller (Pulumi secrets, shown [secret])")
        return [f"offline plan for hub {self.hub}: {NOTE}", pw]

    def to_text(self) -> str:
        lines = [f"# {line}" for line in self.header()]
        for r in self.resources:
            kind = "" if r.custom else " (component)"
            lines.append(f"+ {r.type} {r.name}{kind}")
            for key in sorted(r.inputs):
                lines.append(f"    {key}: {_short(r.inputs[key])}")
        lines.append(f"{len(self.resources)} resource(s); outputs: {', '.join(sorted(self.outputs))}")
        return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def mask(value: Any) -> Any:
    """Replace every secret-wrapped value by ``[secret]``; make the rest JSON-plain."""
    from pulumi.runtime import rpc
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, Mapping):
        return {str(k): mask(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the mock runtime turns every number into a float
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    # Unknowns and resource references: show what they are, never their content.
    return f"[{type(value).__name__}]"


def _mock_classes():
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    class Recorder(pulumi.runtime.Mocks):
        def new_resource(self, args):
            state = dict(args.inputs)
            return f"{args.name}-id", state

        def call(self, args):
            # Data sources (e.g. the realm's mfa-required role) answer with their own arguments.
            return {"id": f"{args.token.rsplit(':', 1)[-1]}-id", **dict(args.args)}

    class RecordingMonitor(MockMonitor):
        """MockMonitor that keeps parents and notices duplicate URNs."""

        def __init__(self, mocks):
            super().__init__(mocks)
            self.records: dict[str, dict] = {}
            self.duplicates: list[str] = []
            self.stack_outputs: dict = {}

        def RegisterResource(self, request):
            # MockMonitor runs in executor threads and gives each one an event
            # loop it never closes.  Left open, such a loop's finalizer at
            # interpreter exit now and then printed a traceback ("Invalid file
            # descriptor: -1") after a clean run; here each call gets a loop
            # that is closed as soon as it returns.
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                resp = super().RegisterResource(request)
            finally:
                asyncio.set_event_loop(None)
                loop.close()
            if request.type == "pulumi:pulumi:Stack":
                return resp
            urn = resp.urn
            if urn in self.records:
                # Mocks overwrite silently; the engine would refuse the stack.
                self.duplicates.append(urn)
            from pulumi.runtime import rpc
            self.records[urn] = {
                "type": request.type, "name": request.name, "parent": request.parent,
                "custom": bool(request.custom), "provider": request.provider,
                "inputs": rpc.deserialize_properties(request.object, keep_unknowns=True),
            }
            return resp

        def RegisterResourceOutputs(self, request):
            from pulumi.runtime import rpc
            if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
                self.stack_outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
            return super().RegisterResourceOutputs(request)

    return Recorder, RecordingMonitor


def record(fn, hub_id: str) -> Plan:
    """Run ``fn`` (a Pulumi program) under mocks as stack ``hub_id``; return what it declared."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pulumi
        from pulumi.runtime.stack import run_in_stack
        from pulumi.runtime.sync_await import _sync_await

        Recorder, RecordingMonitor = _mock_classes()
        mocks = Recorder()
        monitor = RecordingMonitor(mocks)
        # preview=True: with False, inputs built from other resources' outputs vanish.
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=hub_id, preview=True, monitor=monitor)
        pulumi.runtime.settings.SETTINGS.rpc_manager.clear()
        pulumi.runtime.settings.SETTINGS.outputs.clear()
        # One root Stack at a time: clear the previous run's (several plans per process).
        pulumi.runtime.settings.set_root_resource(None)
        try:
            _sync_await(run_in_stack(fn))
        finally:
            pulumi.runtime.settings.set_root_resource(None)
    resources = [
        PlannedResource(urn, rec["type"], rec["name"], rec["parent"], rec["custom"],
                        rec["provider"], mask(rec["inputs"]))
        for urn, rec in sorted(monitor.records.items(), key=lambda kv: (kv[1]["name"], kv[0]))
    ]
    return Plan(hub_id, resources, mask(monitor.stack_outputs), sorted(set(monitor.duplicates)))


def run_program(hub: Hub, passwords: Mapping[str, Any]) -> Plan:
    """Run ``program(hub)`` under mocks and return what it declared (secrets masked)."""
    from hubkit.cloud.stack import load_program
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        hubstack = load_program()
    return record(lambda: hubstack.program(hub, passwords), hub.id)


def placeholder_passwords(hub: Hub) -> dict[str, str]:
    from hubkit.cloud.stack import load_program
    pw = load_program().OFFLINE_PASSWORD
    return {m.username: pw for m in hub.staff}


def offline_plan(hub: Hub, passwords: Mapping[str, Any] | None = None,
                 source: str | None = None) -> Plan:
    """The offline plan of ``hub``.  Without ``passwords``, a placeholder is used."""
    if passwords is None:
        plan = run_program(hub, placeholder_passwords(hub))
        plan.passwords = "placeholder"
    else:
        plan = run_program(hub, passwords)
        plan.passwords = source or "given"
    return plan
