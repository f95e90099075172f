"""Load YAML into plain containers that remember where each value came from.

We build the tree from libyaml's *event* stream rather than ``yaml.compose``:
the C composer recurses and segfaults on absurd nesting, and nodes shared
through aliases would let a "billion laughs" document expand without bound.
Here depth and the number of (alias-expanded) nodes are capped, duplicate keys
are rejected, and every error is a located ``Finding``.
"""

from __future__ import annotations

import yaml

from hubkit.errors import ConfigError, Finding, Origin

MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_BYTES = 4 * 1024 * 1024

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()


class YMap(dict):
    """A mapping with the origin of itself, of each key and of each value.

    ``history`` keeps, per key, the origins that earlier layers set and a later
    layer overrode; ``hubkit explain`` prints that chain.
    """

    # ``has_remove`` is set on a file's root only: whether the file mentions
    # ``_remove`` at all, so merging can skip looking for markers.
    __slots__ = ("origin", "key_origins", "value_origins", "history", "has_remove")

    def __init__(self, origin: Origin):
        # dict.__init__ with no arguments does nothing; skipped for speed.
        self.origin = origin
        self.key_origins: dict = {}
        self.value_origins: dict = {}
        self.history: dict = {}


class YList(list):
    """A list with the origin of itself and of each item.

    ``item_history`` maps an index of a merged keyed list to the origins of
    the earlier layers' versions of that item (for ``hubkit explain``).
    """

    __slots__ = ("origin", "item_origins", "item_history")

    def __init__(self, origin: Origin):
        super().__init__()
        self.origin = origin
        self.item_origins: list[Origin] = []
        self.item_history: dict[int, list[Origin]] = {}


def _origin(path: str, mark) -> Origin:
    return Origin(path, mark.line + 1, mark.column + 1)


def _fail(code: str, message: str, origin: Origin, hint: str | None = None):
    raise ConfigError(Finding(code, message, origin, hint))


def decode(data: bytes, path: str) -> str:
    if len(data) > MAX_BYTES:
        _fail("HK007", f"file is larger than {MAX_BYTES // 1024 // 1024} MiB",
              Origin(path, 1, 1), "hub descriptions are small; check the file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        _fail("HK004", f"invalid UTF-8 byte 0x{data[e.start]:02x}", Origin(path, line, col),
              "save the file as UTF-8")
    raise AssertionError("unreachable")


# Scalar tags a hub file may use; everything else (binary, python objects,
# collection tags on scalars) is refused rather than half-supported.
_SCALAR_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("null", "bool", "int", "float", "str", "timestamp")
}
# Resolution + construction of a plain scalar depends only on its text and
# implicit flags, and hub files repeat the same few values a lot.  Results are
# immutable, so they can be shared.  Bounded so a hostile file cannot grow it.
_CACHE: dict = {}
_STR = "tag:yaml.org,2002:str"
_CACHE_MAX = 50_000


def _scalar(ev, path: str):
    tag = ev.tag
    if tag is None or tag == "!":
        key = (ev.value, ev.implicit, tag)
        hit = _CACHE.get(key, _NO_KEY)
        if hit is not _NO_KEY:
            return hit
        tag = _resolver.resolve(yaml.ScalarNode, ev.value, ev.implicit)
    else:
        key = None
    if tag not in _SCALAR_TAGS:
        _fail("HK008", f"unsupported YAML tag {tag!r}", _origin(path, ev.start_mark),
              "remove the tag; hub files use plain YAML")
    if tag == _STR:
        value = ev.value
        if key is not None:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[key] = value
        return value
    node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
    try:
        value = _constructor.yaml_constructors[tag](_constructor, node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
        _fail("HK008", f"cannot read value {ev.value!r} as {tag.rsplit(':', 1)[-1]}: {e}",
              _origin(path, ev.start_mark), "quote the value to keep it a string")
    if key is not None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = value
    return value


def _count(value, budget: list[int], origin: Origin) -> None:
    """Charge an aliased subtree against the node budget (each use counts)."""
    stack = [value]
    while stack:
        v = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            _fail("HK006", f"document expands to more than {MAX_NODES} nodes (alias bomb?)",
                  origin, "remove the aliases; write values out")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


_new = object.__new__


def _mk(path: str, mark) -> Origin:
    # Origin is a frozen dataclass; its __init__ costs ~40% of the loader's
    # time on large fleets.  Filling __dict__ directly gives the same object.
    o = _new(Origin)
    o.__dict__.update(file=path, line=mark.line + 1, col=mark.column + 1)
    return o


def load_text(text: str, path: str):
    """Parse one YAML document into YMap/YList/scalars.  Raises ConfigError."""
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        _fail("HK003", "file is empty", Origin(path, 1, 1), "describe the hub as a YAML mapping")
    try:
        root = _build(text, path)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        o = _origin(path, mark) if mark else Origin(path, 1, 1)
        msg = e.problem or e.context or "YAML syntax error"
        if "maximum nesting depth" in msg:
            # libyaml's scanner reads deep flow collections ([[[[...) ahead
            # of our own depth check and stops them itself.
            _fail("HK006", f"nesting too deep: {msg}", o, "flatten the structure")
        hint = "indent with spaces, not tabs" if "\t" in _line(text, o.line) else \
            "check indentation, quoting and brackets near this position"
        _fail("HK001", f"YAML syntax error: {msg}", o, hint)
    except yaml.reader.ReaderError as e:
        # libyaml reports a byte offset into the UTF-8 encoding of the text.
        before = text.encode("utf-8")[: e.position].decode("utf-8", "ignore")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        _fail("HK001", f"YAML error: {e.reason} (character 0x{e.character:02x})"
              if isinstance(e.character, int) else f"YAML error: {e.reason}",
              Origin(path, line, col), "remove control characters; save the file as plain UTF-8 text")
    except yaml.YAMLError as e:
        _fail("HK001", f"YAML error: {e}", Origin(path, 1, 1), "check the file's syntax")
    except RecursionError:
        _fail("HK006", "document too deeply nested", Origin(path, 1, 1), "flatten the structure")

    if root is _NO_KEY:
        _fail("HK003", "file is empty", Origin(path, 1, 1), "describe the hub as a YAML mapping")
    if not isinstance(root, YMap):
        origin = getattr(root, "origin", Origin(path, 1, 1))
        _fail("HK005", f"top level is a {_kind(root)}, not a mapping", origin,
              "the file must be a mapping of keys to values")
    root.has_remove = "_remove" in text
    return root


def _build(text: str, path: str):
    """The event loop: kept flat and dispatching on exact event classes for speed."""
    anchors: dict[str, object] = {}
    budget = MAX_NODES
    # Frames: [container, pending_key, key_origin, anchor, origin].
    stack: list[list] = []
    root = _NO_KEY
    docs = 0
    parser = _Loader(text)
    try:
        while True:
            ev = parser.get_event()
            if ev is None:
                break
            cls = ev.__class__
            if cls is _Scalar:
                budget -= 1
                mark = ev.start_mark
                o = _new(Origin)
                o.__dict__.update(file=path, line=mark.line + 1, col=mark.column + 1)
                if stack:
                    frame = stack[-1]
                    cont = frame[0]
                    key = frame[1]
                    if key is _NO_KEY and cont.__class__ is YMap:
                        # Keys stay the text as written: `on:` or `10:` must not
                        # turn into True or 10 behind the user's back.
                        value = ev.value
                        if value in cont:
                            _fail("HK002", f"duplicate key {value!r} (first defined at "
                                  f"{cont.key_origins[value]})", o, "remove one of the two entries")
                        frame[1] = value
                        frame[2] = o
                        if ev.anchor:
                            anchors[ev.anchor] = value
                        continue
                    value = _CACHE.get((ev.value, ev.implicit, ev.tag), _NO_KEY) \
                        if ev.tag is None else _NO_KEY
                    if value is _NO_KEY:
                        value = _scalar(ev, path)
                    if ev.anchor is None and key is not _NO_KEY:
                        # Fast path: a plain value for a pending key.
                        cont[key] = value
                        cont.key_origins[key] = frame[2]
                        cont.value_origins[key] = o
                        frame[1] = _NO_KEY
                        continue
                else:
                    value = _scalar(ev, path)
                root = _attach(stack, value, o, ev.anchor, anchors, root)
            elif cls is _MapStart or cls is _SeqStart:
                o = _mk(path, ev.start_mark)
                if len(stack) >= MAX_DEPTH:
                    _fail("HK006", f"nesting deeper than {MAX_DEPTH} levels", o,
                          "flatten the structure")
                budget -= 1
                if ev.tag not in _COLLECTION_TAGS:
                    _fail("HK008", f"unsupported YAML tag {ev.tag!r}", o, "remove the tag")
                stack.append([YMap(o) if cls is _MapStart else YList(o), _NO_KEY, None, ev.anchor, o])
            elif cls is _MapEnd or cls is _SeqEnd:
                cont, _, _, anchor, o = stack.pop()
                root = _attach(stack, cont, o, anchor, anchors, root)
            elif cls is _Alias:
                o = _mk(path, ev.start_mark)
                if ev.anchor not in anchors:
                    _fail("HK001", f"unknown alias *{ev.anchor}", o, "define the anchor first")
                target = anchors[ev.anchor]
                if any(f[0] is target for f in stack):
                    _fail("HK006", "recursive alias", o, "remove the alias")
                left = [budget]
                _count(target, left, o)
                budget = left[0]
                root = _attach(stack, target, o, None, anchors, root)
            elif cls is _DocStart:
                docs += 1
                if docs > 1:
                    _fail("HK005", "more than one YAML document in the file",
                          _origin(path, ev.start_mark), "keep one document per file")
            elif cls is _StreamEnd:
                break
            if budget < 0:
                _fail("HK006", f"document has more than {MAX_NODES} nodes",
                      _origin(path, ev.start_mark), "split or shrink the file")
    finally:
        parser.dispose()
    return root


_Scalar = yaml.ScalarEvent
_MapStart = yaml.MappingStartEvent
_SeqStart = yaml.SequenceStartEvent
_MapEnd = yaml.MappingEndEvent
_SeqEnd = yaml.SequenceEndEvent
_Alias = yaml.AliasEvent
_DocStart = yaml.DocumentStartEvent
_StreamEnd = yaml.StreamEndEvent
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _attach(stack, value, origin: Origin, anchor, anchors, root):
    """Put a finished value into its parent; returns the (possibly new) root."""
    if anchor:
        anchors[anchor] = value
    if not stack:
        return value
    frame = stack[-1]
    cont = frame[0]
    if cont.__class__ is YList:
        cont.append(value)
        cont.item_origins.append(origin)
    elif frame[1] is _NO_KEY:
        # A non-plain key: an alias or a collection used as a key.
        if isinstance(value, (dict, list)):
            _fail("HK009", "complex mapping keys are not supported", origin,
                  "use plain scalar keys")
        if value in cont:
            _fail("HK002", f"duplicate key {value!r} (first defined at {cont.key_origins[value]})",
                  origin, "remove one of the two entries")
        frame[1], frame[2] = value, origin
    else:
        key = frame[1]
        cont[key] = value
        cont.key_origins[key] = frame[2]
        cont.value_origins[key] = origin
        frame[1] = _NO_KEY
    return root


def load_file(path, display: str):
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    return load_text(decode(data, display), display)


def _line(text: str, lineno: int) -> str:
    lines = text.splitlines()
    return lines[lineno - 1] if 0 < lineno <= len(lines) else ""


def _kind(v) -> str:
    if isinstance(v, list):
        return "list"
    if v is None:
        return "null"
    return type(v).__name__


class _NoKey:
    __slots__ = ()


_NO_KEY = _NoKey()


def plain(value):
    """A deep copy as builtin dict/list (for JSON output and pydantic-free use)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
