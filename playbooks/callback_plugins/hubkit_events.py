# hubkit's structured event stream: one JSON object per line, written to the
# file descriptor named in HUBKIT_EVENTS_FD (or the file in HUBKIT_EVENTS_FILE).
#
# Only names and counts leave Ansible this way: never module arguments or
# results, so no secret can reach hubkit through this channel.  Failure
# messages are forwarded only for tasks without no_log, and cut short.
from __future__ import annotations

import json
import os
import time

from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: hubkit_events
    type: notification
    short_description: JSON-lines task events for hubkit configure
    description:
      - Writes one JSON object per play, task and host result to the file
        descriptor in HUBKIT_EVENTS_FD (or the file in HUBKIT_EVENTS_FILE).
      - Never writes module arguments or results; messages of failed tasks only
        when the task is not no_log.
      - Each result carries duration_s, the seconds from the host starting the
        task (v2_runner_on_start) to its result, so hubkit can name the slowest
        tasks of a run per host (the free strategies do not run hosts in step).
"""

MSG_LIMIT = 400


def _attr(obj, *names):
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "hubkit_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._out = None
        # (host, task uuid) -> monotonic time the host started the task.
        self._started: dict[tuple[str, str], float] = {}
        fd = os.environ.get("HUBKIT_EVENTS_FD")
        path = os.environ.get("HUBKIT_EVENTS_FILE")
        if fd and fd.isdigit():
            self._out = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8", closefd=False)
        elif path:
            self._out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def _emit(self, event: str, **data) -> None:
        if self._out is None:
            return
        data["event"] = event
        try:
            self._out.write(json.dumps(data, sort_keys=True) + "\n")
        except OSError:
            # The reader went away (hubkit interrupted): Ansible must still finish cleanly.
            self._out = None

    # -- plays and tasks ---------------------------------------------------
    def v2_playbook_on_play_start(self, play):
        self._emit("play_start", play=play.get_name().strip())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._emit("task_start", task=_task_name(task), role=_role(task), handler=False)

    def v2_playbook_on_handler_task_start(self, task):
        self._emit("task_start", task=_task_name(task), role=_role(task), handler=True)

    # -- per-host results --------------------------------------------------
    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _result(self, status: str, result, **extra) -> None:
        host = _attr(result, "host", "_host")
        task = _attr(result, "task", "_task")
        res = _attr(result, "result", "_result") or {}
        data = {
            "host": host.get_name() if host is not None else "?",
            "task": _task_name(task) if task is not None else "?",
            "role": _role(task) if task is not None else None,
            "changed": bool(res.get("changed", False)),
            "status": status,
        }
        started = self._started.pop((data["host"], getattr(task, "_uuid", None)), None)
        if started is not None:
            data["duration_s"] = round(time.monotonic() - started, 3)
        if isinstance(task, Handler):
            data["handler"] = True
        if status in ("failed", "unreachable"):
            data["msg"] = _message(res)
        diffs = _diffs(res)
        if diffs and (data["changed"] or extra.get("changed")):
            # `--diff` runs (hubkit plan): what would change, for files that carry no secret.
            data["diff"] = _diff_text(diffs)
        data.update(extra)
        self._emit("result", **data)

    def v2_runner_on_ok(self, result, **kwargs):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._result("ignored" if ignore_errors else "failed", result)

    def v2_runner_on_skipped(self, result, **kwargs):
        res = _attr(result, "result", "_result") or {}
        if _would_run(res):
            # Check mode skips a command it cannot predict.  A guarded command
            # that always reports a change (changed_when: true) would change
            # something: the plan shows it.  One whose output decides
            # (changed_when: <expr>) is only known when it runs: reported apart.
            if _always_changes(_attr(result, "task", "_task")):
                self._result("ok", result, would_run=True, changed=True)
            else:
                self._result("skipped", result, would_run=True, unpredictable=True)
            return
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._result("unreachable", result)

    # -- the recap -----------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for name in sorted(stats.processed.keys()):
            s = stats.summarize(name)
            hosts[name] = {k: int(s.get(k, 0)) for k in
                           ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")}
        self._emit("stats", hosts=hosts)


DIFF_LIMIT = 4000


def _diffs(res: dict) -> list:
    """The diffs of a result, or of its changed loop items; none from a no_log result."""
    def secret(r):
        return r.get("_ansible_no_log") or "censored" in r
    if secret(res):
        return []
    parts = [res] if res.get("diff") else [r for r in res.get("results", [])
                                            if isinstance(r, dict) and r.get("changed") and not secret(r)]
    out = []
    for r in parts:
        d = r.get("diff")
        out.extend(d if isinstance(d, list) else [d] if d else [])
    return out


def _would_run(res: dict) -> bool:
    """Check mode skipped a command that would have run (for a loop: any item)."""
    parts = [res, *(r for r in res.get("results", []) if isinstance(r, dict))]
    return any("would have run" in f"{r.get('msg', '')} {r.get('skip_reason', '')}" for r in parts)


def _always_changes(task) -> bool:
    conds = getattr(task, "changed_when", None) or []
    conds = conds if isinstance(conds, list) else [conds]
    return bool(conds) and all(c is True or str(c).strip().lower() == "true" for c in conds)


def _diff_text(diff) -> str:
    """A unified diff from Ansible's before/after (or its own prepared text), bounded."""
    import difflib
    out = []
    for d in diff if isinstance(diff, list) else [diff]:
        if not isinstance(d, dict):
            continue
        if d.get("prepared"):
            out.append(str(d["prepared"]))
            continue
        before, after = d.get("before", ""), d.get("after", "")
        if isinstance(before, str) and isinstance(after, str):
            out.extend(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                            str(d.get("before_header", "before")),
                                            str(d.get("after_header", "after"))))
        elif isinstance(before, dict) and isinstance(after, dict):
            # A file's attributes (state, mode, owner): only those that differ.
            what = after.get("path") or before.get("path") or d.get("after_header", "")
            out.extend(f"{what}: {k} {before.get(k)!s} -> {after.get(k)!s}\n"
                       for k in sorted(set(before) | set(after)) if k != "path" and before.get(k) != after.get(k))
        else:
            out.append(f"{d.get('before_header', '')}: {before!r} -> {after!r}\n")
    text = "".join(out)
    return text if len(text) <= DIFF_LIMIT else text[:DIFF_LIMIT] + "\n[... diff cut]\n"


def _task_name(task) -> str:
    # The bare task name: the role travels in its own field.
    return str(getattr(task, "name", None) or task.get_name()).strip()


def _role(task):
    role = getattr(task, "_role", None)
    return role.get_name() if role is not None else None


def _message(res: dict) -> str:
    # A no_log task's result is already censored by Ansible; say so plainly.
    if res.get("_ansible_no_log") or "censored" in res:
        return "(output hidden: no_log task)"
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
    return str(msg).strip()[:MSG_LIMIT]
