"""Property-based: arbitrary bytes or YAML-ish text as a hub file never crash.

The only outcomes allowed are a loaded tree or a located ``ConfigError`` from the
loader, and a list of located ``Finding``s from load_fleet + validate.
"""

from __future__ import annotations


import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit.errors import ConfigError, Finding
from hubkit.fleet.repo import load_fleet
from hubkit.fleet.yamlload import YMap, load_text
from hubkit.rules import validate
from hubkit.scaffold import init_fleet

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

YAML_CHARS = st.sampled_from(list(":-[]{},&*!|>'\"#%@`?~=<\\ \t\n") +
                             ["a", "b", "id", "zz", "1", "0x1", ".5", "null", "true",
                              "  ", "\n  ", "\n- ", ": ", "---", "...", "&a ", "*a", "!!str ",
                              "\u00e4", "\ufeff", "\x00", "\x85", "\u2028"])
yaml_ish = st.lists(YAML_CHARS, max_size=80).map("".join)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                    st.floats(allow_nan=False))
documents = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=6), kids, max_size=4)),
    max_leaves=20)


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("prop") / "fleet"
    init_fleet(root)
    return root


def check_text(text: str):
    try:
        tree = load_text(text, "hubs/p.yaml")
    except ConfigError as e:
        f = e.finding
        assert f.origin.file == "hubs/p.yaml" and f.origin.line >= 1 and f.origin.col >= 1
        assert f.code.startswith("HK0") and f.hint
        return
    assert isinstance(tree, YMap)


def check_file(root, data: bytes):
    (root / "hubs" / "p.yaml").write_bytes(data)
    found = validate(load_fleet(root), ["p"])
    assert all(isinstance(f, Finding) and f.origin is not None for f in found)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_as_hub_file(shared_fleet, data):
    check_file(shared_fleet, data)


@SETTINGS
@given(yaml_ish)
def test_random_yaml_ish_text(data):
    check_text(data)


@SETTINGS
@given(documents, st.data())
def test_mutated_yaml_documents(shared_fleet, doc, data):
    text = yaml.safe_dump(doc, default_flow_style=data.draw(st.booleans()), allow_unicode=True)
    if text:
        pos = data.draw(st.integers(0, len(text)))
        text = text[:pos] + data.draw(yaml_ish) + text[pos:]
    check_text(text)
    check_file(shared_fleet, text.encode("utf-8"))


@SETTINGS
@given(st.dictionaries(st.sampled_from(["id", "name", "workplaces", "network", "vpn", "staff",
                                        "workstations", "services", "router", "region"]),
                       documents, max_size=6))
def test_hub_shaped_garbage_gives_findings(shared_fleet, doc):
    (shared_fleet / "hubs" / "p.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    found = validate(load_fleet(shared_fleet), ["p"])
    assert all(f.origin is not None for f in found)
    if doc.get("id") != "p" or "network" not in doc:
        assert found  # such a hub cannot be valid


