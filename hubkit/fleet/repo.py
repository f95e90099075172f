"""The fleet repository on disk: fleet.yaml, regions/*.yaml, hubs/*.yaml."""

from __future__ import annotations

import gc
import ipaddress
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, ValidationError

from hubkit.errors import ConfigError, Finding, Origin, UsageError
from hubkit.fleet.merge import locate, merge_layers
from hubkit.fleet.yamlload import YMap, load_file
from hubkit.model import Hub, Strict

FLEET_FILE = "fleet.yaml"
# Region names become file names: no path separators or dots.
_REGION_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
HUBS_DIR = "hubs"
REGIONS_DIR = "regions"
DECOMMISSIONED_DIR = "_decommissioned"


class FleetInfo(Strict):
    name: str
    operator: str = ""


class Pools(Strict):
    sites: ipaddress.IPv4Network
    site_prefix_length: int = Field(ge=1, le=30)
    vpn_transfer: ipaddress.IPv4Network


class PlanSegment(Strict):
    vlan: int = Field(ge=1, le=4094)
    prefix_length: int = Field(ge=1, le=30)
    purpose: str = ""
    dhcp: bool = True
    isolated: bool = False
    vpn_access: bool = False


class FleetFile(Strict):
    fleet: FleetInfo
    pools: Pools
    segment_plan: dict[str, PlanSegment]
    defaults: dict = {}


@dataclass
class HubRecord:
    """One hub as loaded: its file, merged tree, model (if valid) and findings."""

    id: str
    path: str  # relative to the fleet root, as shown in messages
    tree: YMap | None = None
    model: Hub | None = None
    findings: list[Finding] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)


@dataclass
class Fleet:
    root: Path
    config: FleetFile | None
    tree: YMap | None
    hubs: dict[str, HubRecord]
    findings: list[Finding]

    def hub(self, hub_id: str) -> HubRecord:
        try:
            return self.hubs[hub_id]
        except KeyError:
            known = ", ".join(sorted(self.hubs)) or "none"
            raise UsageError(f"no hub {hub_id!r} in fleet {self.root}",
                             f"known hubs: {known}") from None

    def select(self, ids) -> list[HubRecord]:
        # dict.fromkeys: `validate zeitz zeitz` reports zeitz once.
        return [self.hub(i) for i in dict.fromkeys(ids)] if ids else \
            [self.hubs[k] for k in sorted(self.hubs)]


def schema_findings(err: ValidationError, tree, hub: str | None) -> list[Finding]:
    out = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        # pydantic appends union/function names to loc; keep the data path.
        path = tuple(p for p in loc if isinstance(p, int) or not str(p).startswith("function-"))
        dotted = ".".join(str(p) for p in path) or "(top level)"
        kind = e["type"]
        if kind == "extra_forbidden":
            code, msg, hint = "HK011", f"unknown key {dotted!r}", "remove it or check its spelling"
            origin = _key_origin(tree, path) or locate(tree, path)
        elif kind == "missing":
            code, msg, hint = "HK012", f"missing required key {dotted!r}", "add it to the hub or a layer"
            origin = locate(tree, path[:-1])
            # A missing key is added in the file being validated, not in the
            # layer that happened to set its parent map.
            if origin is None or origin.file != getattr(tree, "origin", origin).file:
                origin = tree.origin
        else:
            code = "HK010"
            msg = f"{dotted}: {e['msg']}"
            if "input" in e and not isinstance(e["input"], (dict, list)):
                msg += f" (got {e['input']!r})"
            hint = "fix the value's type or format"
            origin = locate(tree, path)
        out.append(Finding(code, msg, origin, hint, hub))
    return out


def _key_origin(tree, path):
    node = tree
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, YMap):
        return node.key_origins.get(path[-1])
    return None


def _safe_load(path: Path, display: str, findings: list[Finding]):
    try:
        return load_file(path, display)
    except ConfigError as e:
        findings.append(e.finding)
    except OSError as e:
        findings.append(Finding("HK007", f"cannot read file: {e.strerror}", Origin(display, 1, 1),
                                "check the path and permissions"))
    return None


@contextmanager
def _gc_paused():  # also used by hubkit.rules.validate
    """Pause the cyclic garbage collector while building many small trees.

    Loading allocates hundreds of thousands of long-lived, acyclic containers;
    the collector would rescan them again and again (about half of the load
    time for 1,000 hubs).  Reference counting still frees them: the trees
    hold no reference cycles.
    """
    was_enabled = gc.isenabled()
    # Objects frozen by the previous load go back to the oldest generation,
    # so cyclic garbage from elsewhere is never held longer than one load.
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # Move what exists now out of the collector's generations, or the
            # first collection after enabling would scan it all once more.
            gc.freeze()
            gc.enable()


def load_fleet(root: Path | str) -> Fleet:
    with _gc_paused():
        return _load_fleet(Path(root))


def _load_fleet(root: Path) -> Fleet:
    fleet_path = root / FLEET_FILE
    if not fleet_path.is_file():
        raise UsageError(f"no {FLEET_FILE} in {root}",
                         "pass --fleet PATH or set HUBKIT_FLEET; `hubkit init PATH` creates one")
    findings: list[Finding] = []
    tree = _safe_load(fleet_path, FLEET_FILE, findings)
    config = None
    if tree is not None:
        try:
            config = FleetFile.model_validate(tree)
        except ValidationError as e:
            findings.extend(schema_findings(e, tree, None))
    defaults = tree.get("defaults") if isinstance(tree, YMap) else None
    if isinstance(defaults, YMap):
        defaults.has_remove = getattr(tree, "has_remove", True)
    else:
        defaults = YMap(Origin(FLEET_FILE, 1, 1))
        defaults.has_remove = False

    hubs: dict[str, HubRecord] = {}
    regions: dict[str, YMap | None] = {}
    hubs_dir = root / HUBS_DIR
    names = sorted(os.listdir(hubs_dir)) if hubs_dir.is_dir() else []
    if hubs_dir.exists() and not hubs_dir.is_dir():
        findings.append(Finding("HK007", f"{HUBS_DIR} is not a directory", Origin(HUBS_DIR, 1, 1),
                                f"hub files live in {HUBS_DIR}/<id>.yaml"))
    for name in names:
        if not name.endswith(".yaml") or name.startswith("."):
            continue
        hub_id = name[: -len(".yaml")]
        display = f"{HUBS_DIR}/{name}"
        rec = HubRecord(hub_id, display)
        hubs[hub_id] = rec
        if not (hubs_dir / name).is_file():
            # A dangling symlink or a directory named like a hub: not silently skipped.
            rec.findings.append(Finding("HK007", "not a regular file (dangling symlink or directory?)",
                                        Origin(display, 1, 1), "make it a YAML file or remove it",
                                        hub_id))
            continue
        hub_tree = _safe_load(hubs_dir / name, display, rec.findings)
        if hub_tree is None or tree is None:
            # Without a readable fleet.yaml there are no defaults; merging
            # would only bury its error under "missing key" findings.
            continue
        layers = [defaults]
        rec.layers = [FLEET_FILE]
        region = hub_tree.get("region", defaults.get("region"))
        if isinstance(region, str) and not _REGION_NAME.match(region):
            rec.findings.append(Finding(
                "HK013", f"region name {region!r} is not of the form [a-z][a-z0-9-]*",
                locate(hub_tree, ("region",)), "name an existing regions/<name>.yaml", hub_id))
            region = None
        if isinstance(region, str):
            if region not in regions:
                rpath = root / REGIONS_DIR / f"{region}.yaml"
                rfind: list[Finding] = []
                regions[region] = _safe_load(rpath, f"{REGIONS_DIR}/{region}.yaml", rfind) \
                    if rpath.is_file() else None
                findings.extend(rfind)
            if regions[region] is None:
                if not (root / REGIONS_DIR / f"{region}.yaml").is_file():
                    rec.findings.append(Finding(
                        "HK013", f"region {region!r} has no file {REGIONS_DIR}/{region}.yaml",
                        locate(hub_tree, ("region",)), "create the region file or fix the name",
                        hub_id))
            else:
                layers.append(regions[region])
                rec.layers.append(f"{REGIONS_DIR}/{region}.yaml")
        layers.append(hub_tree)
        rec.layers.append(display)
        rec.tree = merge_layers(layers)
        try:
            rec.model = Hub.model_validate(rec.tree)
        except ValidationError as e:
            rec.findings.extend(schema_findings(e, rec.tree, hub_id))
    return Fleet(root, config, tree, hubs, findings)
