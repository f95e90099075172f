"""`hubkit explain`: a merged value and the chain of files that set it."""

from __future__ import annotations

from dataclasses import dataclass

from hubkit.errors import Origin, UsageError
from hubkit.fleet.merge import chain
from hubkit.fleet.repo import HubRecord
from hubkit.fleet.yamlload import YList, YMap, plain
from hubkit.model import KEYED_LISTS


@dataclass(frozen=True)
class Explanation:
    hub: str
    key: str
    value: object
    chain: list[Origin]  # oldest first; the last one is effective


def resolve_path(tree, dotted: str) -> tuple:
    """Turn `workstations.zeitz-ws01.segment` or `staff.0.role` into tree keys."""
    node, path = tree, []
    parts = [p for p in dotted.split(".") if p != ""]
    if not parts:
        raise UsageError("empty key path", "e.g. network.segments.guest.vlan")
    for part in parts:
        if isinstance(node, YMap):
            if part not in node:
                raise UsageError(f"no key {'.'.join(path + [part])!r} in the merged hub",
                                 f"keys here: {', '.join(sorted(map(str, node))) or 'none'}")
            key = part
        elif isinstance(node, YList):
            key = _list_index(node, part, path)
        else:
            raise UsageError(f"{'.'.join(map(str, path))!r} is a value, not a map or list")
        path.append(key)
        node = node[key]
    return tuple(path)


def _list_index(node: YList, part: str, path: list) -> int:
    if part.isdigit() and int(part) < len(node):
        return int(part)
    field = KEYED_LISTS.get(str(path[-1])) if path else None
    for i, item in enumerate(node):
        if field and isinstance(item, dict) and str(item.get(field)) == part:
            return i
    raise UsageError(f"no item {part!r} in {'.'.join(map(str, path))!r}",
                     "use an index or the item's key (hostname, username, name)")


def explain(rec: HubRecord, dotted: str) -> Explanation:
    if rec.tree is None:
        raise UsageError(f"hub {rec.id!r} could not be loaded", "run `hubkit validate` first")
    path = resolve_path(rec.tree, dotted)
    node = rec.tree
    for p in path:
        node = node[p]
    return Explanation(rec.id, dotted, plain(node), chain(rec.tree, path))
