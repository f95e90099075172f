"""The open engine with toy steps: skip, resume, --from, Ctrl-C, kill -9, preflight, skipped on purpose."""

from __future__ import annotations

import pytest

from hubkit.errors import HubkitError, PrerequisiteError, UsageError
from hubkit.open.journal import Journal, journal_path
from hubkit.open import RunContext, Skipped, Step, StepFailed, preflight, run_pipeline


class World:
    """Toy steps whose inputs and failures the test controls."""

    def __init__(self):
        self.inputs = {"a": 1, "b": 1, "c": 1}
        self.fail = set()
        self.interrupt = set()
        self.ran = []
        self.current = {"a": True, "b": True, "c": True}

    def step(self, name):
        def run(ctx):
            self.ran.append(name)
            if name in self.interrupt:
                raise KeyboardInterrupt
            if name in self.fail:
                raise HubkitError(f"{name} broke", "fix it")
            return f"{name} done"
        return Step(name, run, lambda ctx: self.inputs[name], current=lambda ctx: self.current[name])

    def steps(self):
        return [self.step(n) for n in ("a", "b", "c")]


@pytest.fixture
def world():
    return World()


@pytest.fixture
def ctx(tmp_path):
    return RunContext(tmp_path, "zeitz")


def results(report):
    return [(s.step, s.result) for s in report.steps]


def test_first_run_runs_everything_and_journals(world, ctx):
    rep = run_pipeline(world.steps(), ctx)
    assert world.ran == ["a", "b", "c"]
    assert results(rep) == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    entries = Journal(journal_path(ctx.fleet_root, "zeitz")).entries()
    ends = [e for e in entries if e["event"] == "end"]
    assert [(e["step"], e["result"]) for e in ends] == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    assert all(len(e["input_hash"]) == 64 and e["duration_s"] >= 0 for e in ends)


def test_rerun_skips_unchanged_succeeded_steps_and_says_so(world, ctx):
    run_pipeline(world.steps(), ctx)
    world.ran.clear()
    seen = []
    rep = run_pipeline(world.steps(), ctx, on_event=lambda k, r: seen.append((k, r.step, r.message)))
    assert world.ran == []
    assert results(rep) == [("a", "skipped"), ("b", "skipped"), ("c", "skipped")]
    assert all(k == "skip" and "unchanged" in m for k, _, m in seen)


def test_changed_inputs_rerun_only_that_step(world, ctx):
    run_pipeline(world.steps(), ctx)
    world.ran.clear()
    world.inputs["b"] = 2
    rep = run_pipeline(world.steps(), ctx)
    assert world.ran == ["b"]
    assert results(rep)[1] == ("b", "ok")


def test_effect_gone_reruns_step(world, ctx):
    run_pipeline(world.steps(), ctx)
    world.ran.clear()
    world.current["a"] = False  # e.g. the lab was taken down
    run_pipeline(world.steps(), ctx)
    assert world.ran == ["a"]


def test_failure_stops_and_resumes_at_failed_step(world, ctx):
    world.fail.add("b")
    with pytest.raises(StepFailed) as exc:
        run_pipeline(world.steps(), ctx)
    assert exc.value.step == "b" and "b broke" in exc.value.format()
    assert "resumes at b" in exc.value.format()
    assert world.ran == ["a", "b"]
    world.ran.clear()
    world.fail.clear()
    starts = []
    rep = run_pipeline(world.steps(), ctx, on_event=lambda k, r: k == "start" and starts.append(r))
    assert world.ran == ["b", "c"]
    assert results(rep) == [("a", "skipped"), ("b", "ok"), ("c", "ok")]
    assert starts[0].step == "b" and starts[0].message.startswith("resuming: last attempt failed")


def test_failure_keeps_the_cause_exit_code(world, ctx):
    def run(ctx):
        raise PrerequisiteError("not root", "run as root")
    with pytest.raises(StepFailed) as exc:
        run_pipeline([Step("x", run, lambda c: 1)], ctx)
    assert exc.value.exit_code == 3


def test_from_forces_step_and_later_ones(world, ctx):
    run_pipeline(world.steps(), ctx)
    world.ran.clear()
    rep = run_pipeline(world.steps(), ctx, from_step="b")
    assert world.ran == ["b", "c"]
    assert results(rep) == [("a", "not_run"), ("b", "ok"), ("c", "ok")]


def test_from_unknown_step_is_a_usage_error(world, ctx):
    with pytest.raises(UsageError, match="unknown step 'zz'"):
        run_pipeline(world.steps(), ctx, from_step="zz")


def test_ctrl_c_journals_interruption_and_resumes_there(world, ctx):
    world.interrupt.add("b")
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(world.steps(), ctx)
    state = Journal(journal_path(ctx.fleet_root, "zeitz")).states()
    assert state["a"].done and state["b"].result == "interrupted" and "c" not in state
    world.interrupt.clear()
    world.ran.clear()
    run_pipeline(world.steps(), ctx)
    assert world.ran == ["b", "c"]


def test_killed_run_leaves_start_without_end_and_resumes_there(world, ctx):
    run_pipeline(world.steps(), ctx)
    j = Journal(journal_path(ctx.fleet_root, "zeitz"))
    # What kill -9 during step b leaves behind: its start entry, then a torn line.
    j.append({"run": "killed", "step": "b", "event": "start", "input_hash": "x"})
    with open(j.path, "a") as fh:
        fh.write('{"run": "killed", "step": "b", "ev')
    assert j.states()["b"].result == "incomplete"
    world.ran.clear()
    run_pipeline(world.steps(), ctx)
    assert world.ran == ["b"]  # a skipped, b re-run, c unchanged and done


def test_disabled_step_is_reported_not_run(world, ctx):
    steps = world.steps()
    steps[1] = Step("b", steps[1].run, steps[1].inputs, disabled=lambda c: "not requested (--lab)")
    rep = run_pipeline(steps, ctx)
    assert world.ran == ["a", "c"]
    assert rep.steps[1].result == "disabled" and "--lab" in rep.steps[1].message
    assert rep.ok


def _refuse(ctx):
    raise PrerequisiteError("tool missing", "install it")


def test_preflight_failure_stops_the_run_before_anything_is_journalled(world, ctx):
    steps = world.steps()
    steps[2] = Step("c", steps[2].run, steps[2].inputs, preflight=_refuse)
    with pytest.raises(PrerequisiteError, match="tool missing"):
        run_pipeline(steps, ctx)
    assert world.ran == []  # not even step a, which has no prerequisite of its own
    assert not journal_path(ctx.fleet_root, "zeitz").exists()


def test_preflight_skips_steps_the_run_does_not_reach(world, ctx):
    steps = world.steps()
    steps[0] = Step("a", steps[0].run, steps[0].inputs, preflight=_refuse)
    steps[1] = Step("b", steps[1].run, steps[1].inputs, preflight=_refuse,
                    disabled=lambda c: "not requested")
    preflight(steps, ctx, from_step="b")  # a is before --from, b is disabled: nothing to check
    with pytest.raises(PrerequisiteError):
        preflight(steps, ctx)


def test_step_skipped_on_purpose_is_journalled_with_its_reason_and_keeps_it(world, ctx):
    steps = world.steps()
    steps[1] = Step("b", lambda c: Skipped("--skip-b: b's service not provisioned"), lambda c: world.inputs["b"])
    seen = []
    rep = run_pipeline(steps, ctx, on_event=lambda k, r: seen.append((k, r.step, r.result, r.message)))
    assert results(rep) == [("a", "ok"), ("b", "skipped"), ("c", "ok")] and rep.ok
    assert ("skip", "b", "skipped", "--skip-b: b's service not provisioned") in seen
    j = Journal(journal_path(ctx.fleet_root, "zeitz"))
    assert j.states()["b"].reason == "--skip-b: b's service not provisioned"
    # Nothing changed: skipped again, and the journal and display still say why.
    rep = run_pipeline(steps, ctx)
    assert rep.steps[1].message == "inputs unchanged since it was skipped (--skip-b: b's service not provisioned)"
    assert j.states()["b"].reason == "--skip-b: b's service not provisioned"
    # A step that ran normally has no reason.
    assert j.states()["a"].reason == "" and j.states()["a"].message == "inputs unchanged since it last succeeded"


# ---------------------------------------------------------------- background steps

class Overlap:
    """Toy chain a → bg (background) → b → c (needs bg): bg can only finish once b has
    started, so a run that did not overlap them would fail bg's wait (never hang)."""

    def __init__(self):
        import threading
        self.b_started = threading.Event()
        self.log: list[str] = []
        self.fail: set[str] = set()

    def steps(self):
        def bg(ctx):
            self.log.append("bg start")
            if not self.b_started.wait(timeout=10):
                raise HubkitError("bg never saw b start: the steps did not overlap")
            if "bg" in self.fail:
                raise HubkitError("bg broke", "fix bg")
            self.log.append("bg end")
            return "bg done"

        def b(ctx):
            self.log.append("b")
            self.b_started.set()
            if "b" in self.fail:
                raise HubkitError("b broke", "fix b")
            return "b done"

        def c(ctx):
            self.log.append("c")
            return "c done"

        return [Step("a", lambda ctx: "a done", lambda ctx: 1),
                Step("bg", bg, lambda ctx: 1, background=True),
                Step("b", b, lambda ctx: 1),
                Step("c", c, lambda ctx: 1, needs=("bg",))]


def test_a_background_step_overlaps_the_next_steps_and_its_dependant_waits(ctx):
    w = Overlap()
    seen = []
    rep = run_pipeline(w.steps(), ctx, on_event=lambda k, r: seen.append((k, r.step, r.background)))
    assert w.log.index("b") < w.log.index("bg end") < w.log.index("c")
    # The report lists the chain in order; the journal in the order things happened.
    assert results(rep) == [("a", "ok"), ("bg", "ok"), ("b", "ok"), ("c", "ok")]
    assert ("start", "bg", True) in seen and ("ok", "bg", True) in seen and ("ok", "b", False) in seen
    entries = Journal(journal_path(ctx.fleet_root, "zeitz")).entries()
    starts = [e["step"] for e in entries if e["event"] == "start"]
    assert starts.index("bg") < starts.index("b")
    assert next(e for e in entries if e["step"] == "bg" and e["event"] == "start")["background"] is True


def test_a_failed_background_step_stops_the_chain_where_it_is_needed_and_resumes_there(ctx):
    w = Overlap()
    w.fail.add("bg")
    with pytest.raises(StepFailed) as err:
        run_pipeline(w.steps(), ctx)
    assert err.value.step == "bg" and "bg broke" in err.value.message
    assert "c" not in w.log and "b" in w.log  # b ran alongside, c needed bg
    states = Journal(journal_path(ctx.fleet_root, "zeitz")).states()
    assert states["bg"].result == "failed" and states["b"].result == "ok" and "c" not in states
    w2 = Overlap()
    w2.b_started.set()  # b is skipped this time: nothing to wait for
    rep = run_pipeline(w2.steps(), ctx)
    assert results(rep) == [("a", "skipped"), ("bg", "ok"), ("b", "skipped"), ("c", "ok")]


def test_a_foreground_failure_waits_for_the_background_step_and_journals_it(ctx):
    w = Overlap()
    w.fail.add("b")
    with pytest.raises(StepFailed) as err:
        run_pipeline(w.steps(), ctx)
    assert err.value.step == "b"
    # The run did not end before bg did: its end is journalled, ok.
    states = Journal(journal_path(ctx.fleet_root, "zeitz")).states()
    assert states["bg"].result == "ok" and states["b"].result == "failed"
