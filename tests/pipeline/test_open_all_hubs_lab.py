"""Every hub `hubkit init` writes, and one `hubkit new` scaffolds, opens green in the lab.

zeitz is opened by test_open_lab.py; here: naumburg (cisco-ios switch, which
a Linux bridge stands in for, and a router trunk with named VLAN
interfaces), wittenberg (named router ports) and a freshly scaffolded hub.
Hub ids are renamed (``hkif-*``) so that no lab of the real ids on this
machine is touched.  One lab per hub, opened once and shared by its tests,
down before the next hub's (CI time, and two cores).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from hubkit import topology
from hubkit.fleet.repo import load_fleet
from hubkit.open.journal import Journal, journal_path
from hubkit.scaffold import init_renamed_fleet
from tests.lab.conftest import lab_prereqs_or_skip

from .conftest import HUBKIT, hubkit

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# Example hub -> the id its lab runs under here.
RENAMED = {"naumburg": "hkif-naumburg", "wittenberg": "hkif-wittenberg"}
NEW = "hkif-new"
HUBS = [*RENAMED.values(), NEW]
STAND_IN = "in the lab a Linux bridge stands in for it"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    lab_prereqs_or_skip()
    root = init_renamed_fleet(tmp_path_factory.mktemp("all-hubs") / "fleet", RENAMED)
    # Exactly what an operator gets from `hubkit new`, unedited.
    hubkit(root, "new", NEW, "--name", "DigitalHub Neu", "--municipality", "Neustadt",
           "--workplaces", "2", check=True)
    return root


@pytest.fixture(scope="module", params=HUBS)
def opened(request, fleet):
    """``hubkit open ID --lab --yes`` once per hub; its lab goes down after the hub's tests."""
    hub_id = request.param
    request.addfinalizer(lambda: subprocess.run([HUBKIT, "--fleet", str(fleet), "lab", "down", hub_id],
                                                capture_output=True))
    r = hubkit(fleet, "open", hub_id, "--lab", "--yes")
    evidence = fleet / "audit" / hub_id / "evidence.json"
    doc = json.loads(evidence.read_text()) if evidence.is_file() else None
    return SimpleNamespace(id=hub_id, fleet=Path(fleet), run=r, doc=doc, hub=load_fleet(fleet).hub(hub_id).model)


def test_open_ends_green(opened):
    hub_id, r, doc = opened.id, opened.run, opened.doc
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]
    assert doc["summary"]["fail"] == 0, [row for row in doc["bsi"] if row["status"] == "fail"]
    v = doc["verify"]["result"]["summary"]
    assert v["failed"] == 0 and v["error"] == 0 and v["passed"] >= 40, v
    assert doc["configure"]["rc"] == 0 and doc["scope"]["lab"]["running"] is True
    ends = Journal(journal_path(opened.fleet, hub_id)).last_run()
    chain = ("validate", "secrets", "render", "lab", "cloud", "bootstrap", "configure", "verify", "audit")
    # The cloud step ran in the background, so its end may come after bootstrap's or configure's.
    assert sorted((e["step"], e["result"]) for e in ends) == sorted((s, "ok") for s in chain)
    steps = [e["step"] for e in ends]
    assert steps.index("cloud") < steps.index("verify")


def test_vendor_switch_stand_in_is_said_in_output_journal_and_audit(opened):
    hub_id, r, doc, hub, fleet = opened.id, opened.run, opened.doc, opened.hub, opened.fleet
    configure = next(e for e in Journal(journal_path(fleet, hub_id)).last_run() if e["step"] == "configure")
    report = (fleet / "audit" / hub_id / "report.html").read_text()
    if hub.switch.dialect == "linux-bridge":
        assert STAND_IN not in r.stderr and STAND_IN not in configure["message"]
        assert doc["scope"]["stand_in"] is None and 'id="stand-in"' not in report
        return
    note = f"{hub.switch.hostname} is a cisco-ios switch at the site; {STAND_IN}"
    assert re.search(rf"✓ configure .*lab stand-in: {re.escape(note)}", r.stderr), r.stderr
    assert "switch/cisco-ios.cfg: 8 static checks passed" in configure["message"]
    assert note in configure["message"] and doc["scope"]["stand_in"].startswith(note)
    assert 'id="stand-in"' in report and note in report
    ios = [e for e in doc["evidence"] if e["id"].startswith("switch.ios:")]
    assert len(ios) == 8 and all(e["ok"] for e in ios)
    # verify's switch suite ran against the stand-in, including the IOS comparison.
    sw = {c["id"]: c["status"] for c in doc["verify"]["result"]["checks"] if c["host"] == hub.switch.hostname}
    assert sw["switch::test_ports_as_the_deployed_config_says"] == "passed"
    assert sw["switch::test_bridge_per_segment"] == "passed" and sw["common::test_sshd_no_password_auth"] == "passed"


def test_router_interfaces_carry_the_hubs_names(opened):
    """The lab router has the hub's interface names (one link per segment even for a trunk)."""
    hub_id, hub, fleet = opened.id, opened.hub, opened.fleet
    assert opened.run.returncode == 0, opened.run.stderr[-4000:]
    topo = topology.build(hub)
    out = hubkit(fleet, "lab", "exec", hub_id, hub.router.hostname, "--", "ip -o -4 addr show",
                 check=True).stdout
    live = {(m.group(1), m.group(2)) for m in re.finditer(r"^\d+: (\S+)\s+inet (\S+)", out, re.M)}
    want = {(s.router_iface, str(s.router_address)) for s in topo.segments.values()}
    want.add((topo.wan_iface, str(topo.wan_router)))
    assert want <= live, out
    if topo.trunk_iface:
        files = hubkit(fleet, "lab", "exec", hub_id, hub.router.hostname, "--",
                       "ls /etc/systemd/network", check=True).stdout.split()
        assert f"15-{topo.trunk_iface}.network" in files
        assert {f"20-{s.router_iface}.netdev" for s in topo.segments.values()} <= set(files)
