"""`hubkit open`: the chain validate → secrets → render → lab → cloud → bootstrap → configure → verify → audit.

The engine here knows nothing about the steps: a step is a name plus plain
callables (``run``, ``inputs`` and optionally ``current``).  Before a step
runs, the hash of its inputs is compared with the journal: a step that last
ended ok with the same input hash (and is still ``current``, e.g. its lab is
still up) is skipped and the skip is said and journalled.  Inputs of later
steps include the outputs of earlier ones (the render manifest, the lab's
state, the configure recap), so a changed hub re-runs exactly what it must.

Two things happen before any step runs: every step of the run gets its
``preflight`` (a missing prerequisite stops the run before anything is
written, not halfway through), and a step may return ``Skipped(reason)``
instead of a summary when it deliberately did not do its work (``open
--skip-cloud``): that is journalled as ``skipped`` with the reason, and the
reason is carried into later runs that skip the step because nothing changed.

A step may run in the ``background``: it starts at its place in the chain and
runs in a thread while the next steps run in the foreground; a later step
that depends on it names it in ``needs`` and waits for it first.  Its start
and end are journalled when they happen (so the journal shows the overlap),
its failure stops the chain at the first step that needs it, and the run
never ends (success, failure or Ctrl-C) before every background step has.

The real steps, which call the other parts' Python APIs, are built in
``hubkit.open.steps``; this module stays testable with toy steps.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hubkit.errors import HubkitError, PrerequisiteError, UsageError
from hubkit.open.journal import FAILED, INTERRUPTED, OK, SKIPPED, Journal, digest, journal_path

# The cloud step starts before the hosts are touched and runs in the background while
# bootstrap and configure run (neither depends on it); verify reads what it made
# (the identity probes), so verify waits for it.  In the lab it needs the lab's
# Keycloak, which starts with the lab and boots meanwhile.
STEP_NAMES = ("validate", "secrets", "render", "lab", "cloud", "bootstrap", "configure", "verify", "audit")


@dataclass
class RunContext:
    """What every step can see.  ``data`` carries values between steps of one run."""

    fleet_root: Path
    hub_id: str
    lab: bool = False
    yes: bool = False
    verbose: int = 0
    # Open without the cloud services (no Pulumi run); the cloud step says so everywhere.
    skip_cloud: bool = False
    data: dict = field(default_factory=dict)
    # Lab hosts boot as delivered (root + installer key) and are bootstrapped.
    factory: bool = False
    # The operator's connection choices (user, private_key, jump) and the
    # installer credential for hosts never bootstrapped; never journalled.
    access: dict = field(default_factory=dict)
    credential: object = None


@dataclass(frozen=True)
class Skipped:
    """What a step returns when it deliberately did not do its work, and why."""

    reason: str


@dataclass(frozen=True)
class Step:
    name: str
    # Does the work; returns a one-line summary (or Skipped), raises HubkitError on failure.
    run: Callable[[RunContext], str | Skipped | None]
    # A JSON-able value whose hash decides whether the step must run again.
    inputs: Callable[[RunContext], object]
    # Whether the step's effect still holds (e.g. the lab is still up); default yes.
    current: Callable[[RunContext], bool] | None = None
    # A reason not to run this step at all in this run (e.g. no --lab), or None.
    disabled: Callable[[RunContext], str | None] | None = None
    # Raises HubkitError when the step could not run here (a missing tool, a needed
    # --yes); checked for every step of a run before the run writes anything.
    preflight: Callable[[RunContext], None] | None = None
    # Runs in a thread alongside the following steps (see the module's docstring).
    background: bool = False
    # Background steps this one must wait for (it reads what they made).
    needs: tuple[str, ...] = ()


@dataclass
class StepReport:
    step: str
    result: str  # ok | failed | skipped | interrupted | disabled | not_run
    message: str = ""
    duration_s: float = 0.0
    # Said on its start and end events: the step runs alongside the following ones.
    background: bool = False


@dataclass
class PipelineReport:
    run: str
    steps: list[StepReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.result in (OK, SKIPPED, "disabled") for s in self.steps)

    @property
    def failed(self) -> StepReport | None:
        return next((s for s in self.steps if s.result in (FAILED, INTERRUPTED)), None)


Event = Callable[[str, StepReport], None]


def _noop(kind: str, report: StepReport) -> None:
    pass


class StepFailed(HubkitError):
    """A step failed; its own error is kept as ``cause`` for the message."""

    def __init__(self, step: str, cause: HubkitError, hub_id: str):
        self.step, self.cause = step, cause
        # Keep the cause's meaning: a missing prerequisite is still exit 3.
        self.exit_code = cause.exit_code
        hint = cause.hint or ""
        hint = (hint + "; " if hint else "") + \
            f"fix it, then `hubkit open {hub_id}` resumes at {step}"
        super().__init__(f"step {step} failed: {cause.message}", hint)


def _check_from(steps: list[Step], from_step: str | None) -> None:
    names = [s.name for s in steps]
    if from_step is not None and from_step not in names:
        raise UsageError(f"unknown step {from_step!r} for --from", f"one of: {', '.join(names)}")


def preflight(steps: list[Step], ctx: RunContext, from_step: str | None = None) -> None:
    """Check the prerequisites of every step this run would reach; raise the first problem.

    Writes nothing (no journal, no lock), so a caller can run it before taking
    the hub lock and a refused run leaves the fleet exactly as it was.
    """
    _check_from(steps, from_step)
    reached = from_step is None
    missing: list[PrerequisiteError] = []
    refused: list[HubkitError] = []
    for step in steps:
        reached = reached or step.name == from_step
        if not reached or (step.disabled and step.disabled(ctx)):
            continue
        if step.preflight is not None:
            try:
                step.preflight(ctx)
            except PrerequisiteError as e:
                missing.append(e)
            except HubkitError as e:
                refused.append(e)
    # Every missing prerequisite at once (exit 3): an operator fixes them in one go.
    if len(missing) == 1:
        raise missing[0]
    if missing:
        raise PrerequisiteError(f"{len(missing)} prerequisites are missing: "
                                + "; ".join(f"({i}) {e.message}" for i, e in enumerate(missing, 1)),
                                "; ".join(f"({i}) {e.hint}" for i, e in enumerate(missing, 1) if e.hint))
    if refused:
        raise refused[0]


def run_pipeline(steps: list[Step], ctx: RunContext, from_step: str | None = None,
                 on_event: Event = _noop, journal: Journal | None = None) -> PipelineReport:
    """Run ``steps`` in order, skipping those already done with unchanged inputs.

    ``from_step`` forces that step and every later one to run; earlier steps
    are left alone (not checked, not run).  Raises ``StepFailed`` after
    journalling a failure, and re-raises ``KeyboardInterrupt`` after
    journalling an interruption, so the next run resumes at that step.
    """
    preflight(steps, ctx, from_step)
    journal = journal or Journal(journal_path(ctx.fleet_root, ctx.hub_id))
    states = journal.states()
    report = PipelineReport(run=uuid.uuid4().hex[:12])
    chain = _Chain(ctx, journal, report, on_event)
    order = {s.name: i for i, s in enumerate(steps)}
    try:
        _walk(steps, ctx, from_step, states, chain)
        chain.join_all()
    except KeyboardInterrupt:
        # Never leave with a background step still running: wait, and journal how it ended.
        chain.join_all(interrupted=True)
        raise
    except BaseException:
        chain.join_all(raise_error=False)
        raise
    finally:
        # A background step ends out of turn; the report lists the steps in chain order.
        report.steps.sort(key=lambda r: order.get(r.step, len(order)))
    return report


def _walk(steps: list[Step], ctx: RunContext, from_step: str | None, states: dict, chain: "_Chain") -> None:
    forced = False
    for step in steps:
        forced = forced or step.name == from_step
        if from_step is not None and not forced:
            chain.said("skip", StepReport(step.name, "not_run", f"before --from {from_step}"))
            continue
        reason = step.disabled(ctx) if step.disabled else None
        if reason:
            chain.said("skip", StepReport(step.name, "disabled", reason))
            continue
        for name in step.needs:
            chain.join(name)
        try:
            input_hash = digest(step.inputs(ctx))
        except HubkitError as e:
            rep = StepReport(step.name, FAILED, f"cannot read its inputs: {e.message}")
            chain.ended(rep, None, "failed")
            raise StepFailed(step.name, e, ctx.hub_id) from None
        prev = states.get(step.name)
        if not forced and prev and prev.done and prev.input_hash == input_hash \
                and (step.current is None or step.current(ctx)):
            # A step skipped on purpose stays skipped for the same reason: say which.
            message = (f"inputs unchanged since it was skipped ({prev.reason})" if prev.reason
                       else "inputs unchanged since it last succeeded")
            chain.ended(StepReport(step.name, SKIPPED, message), input_hash, "skip", reason=prev.reason)
            continue
        why = _why_run(prev, input_hash, forced)
        ctx.data.setdefault("reason", {})[step.name] = why
        chain.started(step, why, input_hash)
        if step.background:
            chain.background(step, input_hash)
            continue
        error = chain.run(step, input_hash)
        if error is not None:
            raise error


class _Chain:
    """Journal, report and events of one run, shared by the foreground and background steps."""

    def __init__(self, ctx: RunContext, journal: Journal, report: PipelineReport, on_event: Event):
        self.ctx, self.journal, self.report, self.on_event = ctx, journal, report, on_event
        self.lock = threading.RLock()
        self.pending: dict[str, _Background] = {}

    def said(self, kind: str, rep: StepReport) -> None:
        with self.lock:
            self.report.steps.append(rep)
            self.on_event(kind, rep)

    def started(self, step: Step, why: str, input_hash: str) -> None:
        with self.lock:
            self.on_event("start", StepReport(step.name, "running", why, background=step.background))
            self.journal.append({"run": self.report.run, "step": step.name, "event": "start",
                                 "input_hash": input_hash, "message": why,
                                 **({"background": True} if step.background else {})})

    def ended(self, rep: StepReport, input_hash: str | None, kind: str, reason: str = "") -> None:
        with self.lock:
            self.report.steps.append(rep)
            self.journal.append({"run": self.report.run, "step": rep.step, "event": "end",
                                 "result": rep.result, "input_hash": input_hash,
                                 "duration_s": round(rep.duration_s, 3), "message": rep.message,
                                 **({"reason": reason} if reason else {})})
            self.on_event(kind, rep)

    def run(self, step: Step, input_hash: str, interrupted: threading.Event | None = None) -> BaseException | None:
        """Run one step to its end and journal it; the error to raise, if any."""
        t0 = time.monotonic()

        def end(result: str, message: str, kind: str, reason: str = "") -> None:
            rep = StepReport(step.name, result, message, time.monotonic() - t0, step.background)
            self.ended(rep, input_hash, kind, reason=reason)

        try:
            message = step.run(self.ctx) or ""
        except KeyboardInterrupt as e:
            end(INTERRUPTED, "interrupted (Ctrl-C)", "interrupted")
            return e
        except HubkitError as e:
            # A background step that failed because the run was interrupted is "interrupted".
            if interrupted is not None and interrupted.is_set():
                end(INTERRUPTED, f"interrupted with the run ({e.message})", "interrupted")
            else:
                end(FAILED, e.message, "failed")
            return StepFailed(step.name, e, self.ctx.hub_id)
        if isinstance(message, Skipped):
            end(SKIPPED, message.reason, "skip", reason=message.reason)
        else:
            end(OK, message, "ok")
        return None

    def background(self, step: Step, input_hash: str) -> None:
        pending = _Background()

        def work() -> None:
            # A new thread has no asyncio loop; the cloud step's offline plan (Pulumi's mocks) needs one.
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                pending.error = self.run(step, input_hash, pending.interrupted)
            except BaseException as e:  # noqa: BLE001 - a bug: re-raised in the main thread by join
                pending.error = e
            finally:
                asyncio.set_event_loop(None)
                loop.close()

        pending.thread = threading.Thread(target=work, name=f"hubkit-step-{step.name}", daemon=True)
        self.pending[step.name] = pending
        pending.thread.start()

    def join(self, name: str, interrupted: bool = False, raise_error: bool = True) -> None:
        """Wait for background step ``name`` (if it runs); raise its failure."""
        pending = self.pending.get(name)
        if pending is None:
            return
        if interrupted:
            pending.interrupted.set()
        pending.thread.join()
        # Only now: a Ctrl-C during the join leaves it pending, so join_all still waits for it.
        del self.pending[name]
        if pending.error is not None and raise_error and not interrupted:
            raise pending.error

    def join_all(self, interrupted: bool = False, raise_error: bool = True) -> None:
        for name in list(self.pending):
            self.join(name, interrupted, raise_error)


@dataclass
class _Background:
    """One background step's thread, its outcome, and whether the run is being interrupted."""

    thread: threading.Thread | None = None
    error: BaseException | None = None
    interrupted: threading.Event = field(default_factory=threading.Event)


def _why_run(prev, input_hash: str, forced: bool) -> str:
    if forced:
        return "forced by --from"
    if prev is None:
        return "first run"
    if not prev.done:
        return f"resuming: last attempt {prev.result}" + (f" ({prev.message})" if prev.message else "")
    if prev.input_hash != input_hash:
        return "inputs changed"
    return "its effect no longer holds"
