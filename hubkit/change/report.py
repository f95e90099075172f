"""A change plan as text (terminal), Markdown (a merge-request comment) or JSON (machines).

The JSON form is the plan document itself; its schema is docs/plan.schema.json.
"""

from __future__ import annotations

import json

FORMATS = ("text", "markdown", "json")


def _cloud_line(doc: dict) -> str:
    c = doc["cloud"]
    ops = doc["summary"]["cloud"]
    counts = ", ".join(f"{n} to {op}" for op, n in ops.items()) or "no change"
    label = "real preview" if c["mode"] == "preview" else "offline plan, intent only"
    return f"{counts} ({label})"


def _host_line(doc: dict) -> str:
    tasks = doc["summary"]["host_tasks"]
    if doc["hosts"]["mode"] == "skipped":
        return "not checked"
    return ", ".join(f"{h}: {n}" for h, n in tasks.items()) or "no change"


def _files_line(doc: dict) -> str:
    r = doc["render"]
    return f"{len(r['changed'])} changed, {len(r['new'])} new, {len(r['deleted'])} deleted"


def text(doc: dict) -> str:
    out = [f"plan for hub {doc['hub']} ({doc['target']}), input hash {doc['input_hash'][:12]}",
           f"  rendered files: {_files_line(doc)}", f"  hosts: {_host_line(doc)}", f"  cloud: {_cloud_line(doc)}"]
    if doc["render"]["diff"]:
        out += ["", "rendered files:", doc["render"]["diff"].rstrip("\n")]
    for host, h in doc["hosts"]["hosts"].items():
        if h["changes"] or h.get("note") or h.get("failures") or h.get("unknown"):
            out.append("")
            out.append(f"{host}:" + (f" ({h['note']})" if h.get("note") else ""))
            for c in h["changes"]:
                out.append(f"  ~ {c['task']}" + (f" [{c['role']}]" if c.get("role") else ""))
                out += [f"      {line}" for line in c.get("diff", "").splitlines()]
            for task in h.get("unknown", []):
                out.append(f"  ? {task} (its output decides; known only when it runs)")
            for f in h.get("failures", []):
                out.append(f"  ! {f['task']}: {f['status']} {f['msg']}")
    c = doc["cloud"]
    if c["steps"] or c["realm_steps"]:
        out += ["", f"cloud ({c['note']}):"]
        for s in c["realm_steps"] + c["steps"]:
            fields = f"  [{', '.join(s['diffs'])}]" if s.get("diffs") else ""
            out.append(f"  {s['op']:8} {s['type']} {s['name']}{fields}")
    if c.get("planned_only"):
        out.append(f"planned only (no service to preview against): {', '.join(c['planned_only'])}")
    out.append("" if doc["summary"]["changes"] else "no change anywhere")
    return "\n".join(out).rstrip("\n") + "\n"


def markdown(doc: dict) -> str:
    r, c = doc["render"], doc["cloud"]
    out = [f"### hubkit plan: `{doc['hub']}` ({doc['target']})", "",
           f"Input hash `{doc['input_hash'][:12]}` · hubkit {doc['hubkit_version']} · "
           f"apply with `hubkit apply {doc['hub']}{' --lab' if doc['target'] == 'lab' else ''}`", "",
           "| part | changes |", "|---|---|",
           f"| rendered files | {_files_line(doc)} |",
           f"| hosts (Ansible check mode) | {_host_line(doc)} |",
           f"| cloud | {_cloud_line(doc)} |", ""]
    out += ["#### Rendered files", ""]
    if r["diff"]:
        names = r["changed"] + r["new"] + r["deleted"]
        out += [f"<details><summary>{len(names)} file(s): {', '.join(names[:6])}"
                f"{' ...' if len(names) > 6 else ''}</summary>", "", "```diff", r["diff"].rstrip("\n"), "```", "",
                "</details>", ""]
    else:
        out += ["No rendered file changes.", ""]
    out += ["#### Hosts", ""]
    changed = {h: v for h, v in doc["hosts"]["hosts"].items()
               if v["changes"] or v.get("note") or v.get("failures") or v.get("unknown")}
    if doc["hosts"]["mode"] == "skipped":
        out += [f"Not checked: {doc['hosts'].get('note', '')}", ""]
    elif not changed:
        out += ["No task would change on any host.", ""]
    for host, h in changed.items():
        tasks = "; ".join(c["task"] for c in h["changes"]) or "-"
        out.append(f"- **{host}**" + (f" ({h['note']})" if h.get("note") else "") + f": {tasks}")
        if h.get("unknown"):
            out.append(f"  - may change, known only when run: {'; '.join(h['unknown'])}")
        for f in h.get("failures", []):
            out.append(f"  - :warning: {f['task']}: {f['status']} {f['msg']}")
        diffs = [c for c in h["changes"] if c.get("diff")]
        if diffs:
            out += ["", f"  <details><summary>{host}: {len(diffs)} diff(s)</summary>", "", "  ```diff"]
            out += [f"  {line}" for c in diffs for line in c["diff"].rstrip("\n").splitlines()]
            out += ["  ```", "", "  </details>", ""]
    out += ["", "#### Cloud", "", f"_{c['note']}_", ""]
    steps = c["realm_steps"] + c["steps"]
    if steps:
        out += ["| op | type | name | fields |", "|---|---|---|---|"]
        out += [f"| {s['op']} | `{s['type']}` | `{s['name']}` | {', '.join(s.get('diffs') or []) or '-'} |"
                for s in steps]
    else:
        out.append("No cloud resource would change.")
    if c.get("planned_only"):
        out += ["", f"Planned only (no service to preview against): {', '.join(c['planned_only'])}."]
    return "\n".join(out).rstrip("\n") + "\n"


def render(doc: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return markdown(doc) if fmt == "markdown" else text(doc)
