"""Merge layers (defaults → region → hub) keeping provenance.

Rules:
- maps merge deeply;
- lists replace, except keyed lists at the hub's top level (see
  ``hubkit.model.KEYED_LISTS``), which merge item by item on their key;
- a mapping whose only content is ``_remove: true`` removes the inherited map
  entry or keyed-list item it names.

Inputs are never mutated: the fleet defaults are shared by every hub.
"""

from __future__ import annotations

from hubkit.errors import Origin
from hubkit.fleet.yamlload import YList, YMap
from hubkit.model import KEYED_LISTS

REMOVE = "_remove"


def is_remove(value, key_field: str | None = None) -> bool:
    """``{_remove: true}`` (a map entry) or ``{<key_field>: k, _remove: true}`` (a keyed item).

    Anything else next to ``_remove`` is kept, so the schema reports the stray
    ``_remove`` key instead of hubkit silently dropping data.
    """
    if not isinstance(value, dict) or value.get(REMOVE) is not True:
        return False
    return len(value) == 1 or (len(value) == 2 and key_field is not None and key_field in value)


def merge_layers(layers: list[YMap]) -> YMap:
    # Looking for `_remove` markers walks every map; skip it when no layer
    # file contains the word (the common case).
    strip = any(getattr(layer, "has_remove", True) for layer in layers)
    result = _strip(layers[0]) if strip else layers[0]
    for layer in layers[1:]:
        result = _merge_map(result, layer, top=True, strip=strip)
    return result


def _merge_map(base: YMap, over: YMap, top: bool = False, strip: bool = True) -> YMap:
    out = YMap(over.origin)
    out.update(base)
    out.key_origins.update(base.key_origins)
    out.value_origins.update(base.value_origins)
    out.history.update(base.history)
    for key, value in over.items():
        origin = over.value_origins[key]
        if strip and is_remove(value):
            if key in out:
                out.history[key] = out.history.get(key, []) + [out.value_origins[key]]
                del out[key]
                del out.value_origins[key]
                out.key_origins.pop(key, None)
            continue
        if key in out:
            prev = out[key]
            out.history[key] = out.history.get(key, []) + [out.value_origins[key]]
            if isinstance(prev, YMap) and isinstance(value, YMap):
                value = _merge_map(prev, value, strip=strip)
            elif top and key in KEYED_LISTS and isinstance(prev, YList) and isinstance(value, YList):
                value = _merge_keyed(prev, value, KEYED_LISTS[key], strip)
            elif strip:
                value = _strip(value, KEYED_LISTS.get(key) if top else None)
        elif strip:
            value = _strip(value, KEYED_LISTS.get(key) if top else None)
        out[key] = value
        out.key_origins[key] = over.key_origins[key]
        out.value_origins[key] = origin
    return out


def _item_key(item, key_field: str):
    return item.get(key_field) if isinstance(item, dict) else None


def _merge_keyed(base: YList, over: YList, key_field: str, strip: bool = True) -> YList:
    out = YList(over.origin)
    items = list(zip(base, base.item_origins))
    # Origins of earlier versions of each item, by index into ``items``.
    history = {i: list(h) for i, h in base.item_history.items()}
    index = {}
    for i, (item, _) in enumerate(items):
        k = _item_key(item, key_field)
        if k is not None:
            index[k] = i
    removed: set[int] = set()
    for item, origin in zip(over, over.item_origins):
        k = _item_key(item, key_field)
        if k is not None and k in index and index[k] not in removed:
            i = index[k]
            if is_remove(item, key_field):
                removed.add(i)
            else:
                history[i] = history.get(i, []) + [items[i][1]]
                items[i] = (_merge_map(items[i][0], item, strip=strip), origin)
        elif not is_remove(item, key_field):
            if k is not None:
                index[k] = len(items)
            items.append((_strip(item) if strip else item, origin))
    for i, (item, origin) in enumerate(items):
        if i not in removed:
            if i in history:
                out.item_history[len(out)] = history[i]
            out.append(item)
            out.item_origins.append(origin)
    return out


def _strip(value, key_field: str | None = None):
    """Drop `_remove` markers that have nothing to remove (first layer to set a key)."""
    if isinstance(value, YMap):
        children = {k: _strip(v) for k, v in value.items() if isinstance(v, YMap)}
        if not any(is_remove(v) for v in value.values()) and \
                all(children[k] is value[k] for k in children):
            return value
        out = YMap(value.origin)
        out.history.update(value.history)
        for k, v in value.items():
            if not is_remove(v):
                out[k] = children.get(k, v)
                out.key_origins[k] = value.key_origins[k]
                out.value_origins[k] = value.value_origins[k]
        return out
    if isinstance(value, YList):
        if not any(is_remove(v, key_field) for v in value):
            return value
        out = YList(value.origin)
        for v, o in zip(value, value.item_origins):
            if not is_remove(v, key_field):
                out.append(v)
                out.item_origins.append(o)
        return out
    return value


def locate(tree, path) -> Origin | None:
    """Origin of the value at ``path`` (keys and list indices); nearest parent if absent."""
    node, origin = tree, getattr(tree, "origin", None)
    for part in path:
        if isinstance(node, YMap) and part in node:
            origin = node.value_origins.get(part, origin)
            node = node[part]
        elif isinstance(node, YList) and isinstance(part, int) and 0 <= part < len(node):
            origin = node.item_origins[part]
            node = node[part]
        else:
            break
    return origin


def chain(tree, path) -> list[Origin]:
    """Every origin that set the value at ``path``, oldest first."""
    node = tree
    for part in path[:-1]:
        if isinstance(node, YMap) and part in node:
            node = node[part]
        elif isinstance(node, YList) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return []
    last = path[-1] if path else None
    if isinstance(node, YMap) and last in node:
        return list(node.history.get(last, [])) + [node.value_origins[last]]
    if isinstance(node, YList) and isinstance(last, int) and 0 <= last < len(node):
        return list(node.item_history.get(last, [])) + [node.item_origins[last]]
    return []
