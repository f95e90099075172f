"""The fleet commands through click's CliRunner: output formats and exit codes."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from hubkit.fleet.codes import LOAD_CODES
from hubkit.rules import RULES
from tests.fleet.conftest import snapshot
from tests.fleet.hubtext import ZZ, at, edit


def test_init_then_validate_exits_0(tmp_path, run_cli):
    r = run_cli(None, "init", str(tmp_path / "f"))
    assert r.exit_code == 0 and "wrote example fleet" in r.output
    r = run_cli(tmp_path / "f", "validate")
    assert r.exit_code == 0 and "ok: 3 hub(s) valid" in r.stderr and r.stdout == ""


def test_init_non_empty_exits_2(fleet, run_cli):
    r = run_cli(None, "init", str(fleet))
    assert r.exit_code == 2 and "not empty" in r.stderr and "Traceback" not in r.output


def test_fleet_from_env(fleet, run_cli):
    r = run_cli(None, "list", "--json", env={"HUBKIT_FLEET": str(fleet)})
    assert r.exit_code == 0
    assert [h["id"] for h in json.loads(r.stdout)["hubs"]] == ["naumburg", "wittenberg", "zeitz"]


def test_missing_fleet_is_usage_error(tmp_path, run_cli):
    r = run_cli(tmp_path, "validate")
    assert r.exit_code == 2 and "no fleet.yaml" in r.stderr and "hint:" in r.stderr


def test_new_then_validate(fleet, run_cli):
    r = run_cli(fleet, "new", "querfurt", "--name", "DigitalHub Querfurt", "--municipality",
                "Querfurt", "--workplaces", "5", "--region", "sachsen-anhalt")
    assert r.exit_code == 0 and "hubs/querfurt.yaml" in r.stdout
    assert run_cli(fleet, "validate", "querfurt").exit_code == 0
    before = snapshot(fleet)
    r = run_cli(fleet, "new", "querfurt", "--name", "X", "--municipality", "X", "--workplaces", "1")
    assert r.exit_code == 2 and "already exists" in r.stderr
    assert snapshot(fleet) == before


@pytest.mark.parametrize("args", [["new", "x", "--name", "X", "--municipality", "M", "--workplaces", "0"],
                                  ["new", "x", "--name", "X"],
                                  ["validate", "--format", "xml"],
                                  ["explain", "zeitz"],
                                  ["nosuchcommand"]])
def test_usage_errors_exit_2(fleet, run_cli, args):
    r = run_cli(fleet, *args)
    assert r.exit_code == 2 and "Traceback" not in r.output


@pytest.mark.parametrize("args", [["validate", "nope"], ["validate", "zeitz", "nope"],
                                  ["explain", "nope", "name"], ["explain", "zeitz", "no.such.key"]])
def test_unknown_hub_or_key_exits_2(fleet, run_cli, args):
    r = run_cli(fleet, *args)
    assert r.exit_code == 2 and "hint:" in r.stderr and "Traceback" not in r.output


@pytest.fixture
def bad_fleet(fleet):
    text = edit(ZZ, "vlan: 99", "vlan: 10")
    (fleet / "hubs/zz.yaml").write_text(text)
    return fleet, at(text, "hubs/zz.yaml", 9, "10")


def test_validate_text_findings_exit_1(bad_fleet, run_cli):
    fleet, where = bad_fleet
    r = run_cli(fleet, "validate")
    assert r.exit_code == 1
    assert r.stdout.startswith(f"{where}: error HK104: VLAN 10 of segment 'mgmt' is already used by 'staff' (hint: ")
    assert run_cli(fleet, "validate", "zeitz").exit_code == 0


def test_validate_json(bad_fleet, run_cli):
    fleet, where = bad_fleet
    r = run_cli(fleet, "validate", "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["hubs"] == ["naumburg", "wittenberg", "zeitz", "zz"]
    (f,) = doc["findings"]
    assert (f["code"], f"{f['file']}:{f['line']}:{f['col']}", f["hub"]) == ("HK104", where, "zz")
    ok = json.loads(run_cli(fleet, "validate", "zeitz", "--format", "json").stdout)
    assert ok == {"findings": [], "hubs": ["zeitz"], "ok": True}


def test_validate_junit_one_case_per_hub(bad_fleet, run_cli):
    fleet, where = bad_fleet
    r = run_cli(fleet, "validate", "--format", "junit")
    assert r.exit_code == 1
    suite = ET.fromstring(r.stdout).find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert sorted(cases) == ["naumburg", "wittenberg", "zeitz", "zz"]
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    assert cases["zeitz"].find("failure") is None
    assert where in cases["zz"].find("failure").text


def test_validate_junit_fleet_level_case(fleet, run_cli):
    (fleet / "fleet.yaml").write_text((fleet / "fleet.yaml").read_text() + "bogus: 1\n")
    r = run_cli(fleet, "validate", "--format", "junit")
    assert r.exit_code == 1
    names = [c.get("name") for c in ET.fromstring(r.stdout).iter("testcase")]
    assert names == ["(fleet)", "naumburg", "wittenberg", "zeitz"]


def test_validate_sarif_2_1_0(bad_fleet, run_cli):
    fleet, where = bad_fleet
    r = run_cli(fleet, "validate", "--format", "sarif")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "hubkit"
    assert {r["id"] for r in rules} == {r.code for r in RULES} | set(LOAD_CODES)
    assert all(r["shortDescription"]["text"] and r["help"]["text"] for r in rules)
    (res,) = run["results"]
    assert res["ruleId"] == "HK104" and rules[res["ruleIndex"]]["id"] == "HK104"
    assert res["level"] == "error" and res["message"]["text"]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "hubs/zz.yaml"
    file_, line, col = where.split(":")
    assert loc["region"] == {"startLine": int(line), "startColumn": int(col)}


def test_sarif_for_yaml_errors_has_rule_entries(fleet, run_cli):
    (fleet / "hubs/zz.yaml").write_text("id: zz\nid: zz\n")
    doc = json.loads(run_cli(fleet, "validate", "--format", "sarif").stdout)
    run = doc["runs"][0]
    (res,) = run["results"]
    assert res["ruleId"] == "HK002"
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "HK002"


def test_output_is_deterministic(bad_fleet, run_cli):
    fleet, _ = bad_fleet
    for fmt in ("text", "json", "junit", "sarif"):
        a = run_cli(fleet, "validate", "--format", fmt).stdout
        assert a == run_cli(fleet, "validate", "--format", fmt).stdout
        assert str(fleet) not in a


def test_explain_text_and_json(fleet, run_cli):
    r = run_cli(fleet, "explain", "zeitz", "services.central.dns_suffix")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == 'zeitz services.central.dns_suffix = "hubs.sachsen-anhalt.example.org"'
    assert lines[1].split() == ["set", "by", "fleet.yaml:51:19"]
    assert lines[2].split() == ["overridden", "by", "regions/sachsen-anhalt.yaml:4:17", "(effective)"]
    r = run_cli(fleet, "explain", "zeitz", "network.segments.guest.vlan", "--json")
    doc = json.loads(r.stdout)
    assert doc == {"hub": "zeitz", "key": "network.segments.guest.vlan", "value": 20,
                   "chain": ["hubs/zeitz.yaml:22:19"]}


def test_explain_invalid_hub_still_explains(fleet, run_cli):
    hub = fleet / "hubs/zeitz.yaml"
    hub.write_text(hub.read_text().replace("workplaces: 5", "workplaces: five"))
    r = run_cli(fleet, "explain", "zeitz", "workplaces")
    assert r.exit_code == 0 and '"five"' in r.stdout


def test_explain_unloadable_hub_exits_2(fleet, run_cli):
    (fleet / "hubs/zeitz.yaml").write_text("[")
    r = run_cli(fleet, "explain", "zeitz", "name")
    assert r.exit_code == 2 and "validate" in r.stderr


def test_list_text_and_json(fleet, run_cli):
    r = run_cli(fleet, "list")
    assert r.exit_code == 0
    assert "zeitz" in r.stdout and "10.64.0.0/22" in r.stdout and "Zeitz" in r.stdout
    (fleet / "hubs/broken.yaml").write_text("id: [\n")
    doc = json.loads(run_cli(fleet, "list", "--json").stdout)
    rows = {h["id"]: h for h in doc["hubs"]}
    assert rows["zeitz"] == {"id": "zeitz", "name": "DigitalHub Zeitz", "municipality": "Zeitz",
                             "site_prefix": "10.64.0.0/22", "workplaces": 5, "valid": True}
    assert rows["broken"]["valid"] is False and rows["broken"]["name"] is None


def test_fleet_yaml_errors_are_located(fleet, run_cli):
    cfg = fleet / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("  site_prefix_length: 22", "  site_prefix_length: big"))
    r = run_cli(fleet, "validate")
    assert r.exit_code == 1
    line = next(i for i, ln in enumerate(cfg.read_text().splitlines(), 1) if "big" in ln)
    assert r.stdout.startswith(f"fleet.yaml:{line}:23: error HK010: pools.site_prefix_length")
    r = run_cli(fleet, "new", "x", "--name", "X", "--municipality", "M", "--workplaces", "1")
    assert r.exit_code == 1 and "fleet.yaml is invalid" in r.stderr and "Traceback" not in r.output


def test_repeated_ids_are_validated_once(fleet, run_cli):
    doc = json.loads(run_cli(fleet, "validate", "zeitz", "zeitz", "--format", "json").stdout)
    assert doc["hubs"] == ["zeitz"]


def test_list_valid_reflects_rules(fleet, run_cli):
    (fleet / "hubs/zz.yaml").write_text(edit(ZZ, "vlan: 99", "vlan: 10"))
    rows = {h["id"]: h["valid"] for h in json.loads(run_cli(fleet, "list", "--json").stdout)["hubs"]}
    assert rows == {"naumburg": True, "wittenberg": True, "zeitz": True, "zz": False}


def test_new_with_exhausted_pool_exits_1(fleet, run_cli):
    cfg = fleet / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("sites: 10.64.0.0/12", "sites: 10.64.0.0/21"))
    before = snapshot(fleet)
    r = run_cli(fleet, "new", "x", "--name", "X", "--municipality", "M", "--workplaces", "1")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.startswith("error: site prefix: pool 10.64.0.0/21 has no free /22 left (hint: ")
    assert snapshot(fleet) == before


def test_inherited_error_is_one_text_line_but_per_hub_in_json(fleet, run_cli):
    cfg = fleet / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("  update_policy: security", "  update_policy: sometimes"))
    line = next(i for i, ln in enumerate(cfg.read_text().splitlines(), 1) if "sometimes" in ln)
    r = run_cli(fleet, "validate")
    assert r.exit_code == 1
    assert len(r.stdout.splitlines()) == 1
    assert r.stdout.startswith(f"fleet.yaml:{line}:20: error HK010: services.update_policy")
    doc = json.loads(run_cli(fleet, "validate", "--format", "json").stdout)
    assert sorted(f["hub"] for f in doc["findings"]) == ["naumburg", "wittenberg", "zeitz"]
