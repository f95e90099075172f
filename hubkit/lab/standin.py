"""The lab's Linux stand-in for a vendor switch (a Cisco IOS switch has no image here).

A hub whose switch is ``cisco-ios`` still gets a switch host in the lab: a
Linux host with one bridge per segment, converged from the hub's rendered
``switch/linux-bridge.json`` (the same switch model render also writes in
IOS dialect).  Site and lab then differ in exactly this, written down in
docs/lab.md:

- the lab's inventory overlay sets ``hubkit_lab_switch_standin`` (below), so
  the playbook manages the switch as a Linux bridge and skips the IOS play;
- the stand-in needs the host files a Linux switch gets (sshd hardening).
  Render never writes those for an IOS switch: ``build/<id>/hosts/`` holds
  only what is installed at the site.  The lab renders them itself, with
  render's own targets and templates for the hub with a Linux switch, into
  its own directory (``<lab>/standin/<switch>/``), at every ``lab up`` and
  again before every configure of the lab;
- hubkit checks the rendered IOS config statically (``hubkit.ios_check``)
  where the IOS play would push it, and verify's switch suite tests the
  stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubkit.atomic import write_atomic

STANDS_IN_WITH = "linux-bridge"
# What the playbook converges on the stand-in (relative to the build dir).
MODEL = "switch/linux-bridge.json"
# The production play that does not run in the lab.
VENDOR_PLAY = "switch-cisco-ios.yml"
OVERLAY_VAR = "hubkit_lab_switch_standin"


@dataclass(frozen=True)
class StandIn:
    host: str
    dialect: str  # what the site has

    def note(self) -> str:
        """One line for output, journal and audit."""
        return (f"{self.host} is a {self.dialect} switch at the site; in the lab a Linux bridge "
                f"stands in for it: {VENDOR_PLAY} is skipped, the rendered switch/{self.dialect}.cfg "
                f"is checked statically and verify's switch checks test the stand-in")


def for_hub(hub) -> StandIn | None:
    """The stand-in the lab needs for ``hub``, or None (its switch is a Linux bridge already)."""
    if hub.switch.dialect == STANDS_IN_WITH:
        return None
    return StandIn(hub.switch.hostname, hub.switch.dialect)


def host_files(hub) -> tuple[dict[str, bytes], dict[str, str]]:
    """The files a Linux switch of ``hub`` would get: ({'/etc/...': bytes}, {'/etc/...': service}).

    Rendered by render itself (same targets, templates and placeholder
    guard) for the hub with its switch as a Linux bridge, so the stand-in's
    sshd hardening is byte for byte what a Linux switch at the site gets.
    """
    from hubkit.render import hub_context, render_files
    from hubkit.render.targets import host_files as services

    linux = hub.model_copy(update={"switch": hub.switch.model_copy(update={"dialect": STANDS_IN_WITH})})
    ctx = hub_context(linux, None)
    prefix = f"hosts/{hub.switch.hostname}"
    files = {p[len(prefix):]: data for p, data in render_files(ctx).items() if p.startswith(prefix + "/")}
    return files, services(ctx).get(hub.switch.hostname, {})


def prepare(lab_dir: Path, hub) -> dict | None:
    """Write the stand-in's host files under ``lab_dir``; the overlay variable's value, or None.

    The value is documented in docs/lab.md; the roles read it in
    playbooks/site.yml (grouping), the switch role (model) and the common
    role (host files).
    """
    s = for_hub(hub)
    if s is None:
        return None
    files, services = host_files(hub)
    root = Path(lab_dir) / "standin" / s.host
    for path, data in sorted(files.items()):
        write_atomic(root / path.lstrip("/"), data.decode())
    return {"host": s.host, "replaces": s.dialect, "dialect": STANDS_IN_WITH, "model": MODEL,
            "host_dir": str(root), "files": services}


def before_configure(build_dir: Path, hub, lab: bool) -> list[str]:
    """What configure does about a vendor switch first; lines for the output and the journal.

    Its rendered config is checked before anything is configured
    (``hubkit.ios_check``; a failure raises): at the site before the vendor
    play pushes it, in the lab where the stand-in takes its place.  In the
    lab the stand-in's host files are rendered again, so a template change
    reaches them without a new lab.  Empty for a Linux-bridge switch.
    """
    from hubkit import ios_check
    from hubkit.lab.state import lab_dir
    checked = ios_check.precheck(build_dir, hub)
    s = for_hub(hub) if lab else None
    if s is not None and lab_dir(hub.id).is_dir():
        prepare(lab_dir(hub.id), hub)
    return [n for n in (f"lab stand-in: {s.note()}" if s else None, checked) if n]
