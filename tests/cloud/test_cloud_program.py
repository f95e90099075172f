"""The Pulumi program under Pulumi's own mocks (set_mocks, then run, then assert).

Every assertion names the URN it is about.  These tests need no engine CLI,
no plugins and no network (they also pass inside `unshare -n`).
"""

from __future__ import annotations

import json

import pulumi
import pytest

from hubkit.cloud.plan import SECRET, offline_plan, record
from hubkit.cloud.stack import load_program
from hubkit.model import Monitoring
from hubkit.topology import build

USER = "keycloak:index/user:User"
RECORDSET = "openstack:dns/recordSet:RecordSet"
CONTAINER = "openstack:objectstorage/container:Container"
DASHBOARD = "grafana:oss/dashboard:Dashboard"


class EchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args):
        # Data sources (the realm's mfa-required role) answer with an id.
        return {"id": f"{args.token.rsplit(':', 1)[-1]}-id", **dict(args.args)}


def test_program_declares_nothing_at_import():
    """Importing the program package registers no resource (nothing at import time)."""
    mocks = EchoMocks()
    monitor = pulumi.runtime.mocks.MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="hubkit-hub", stack="zeitz", preview=True, monitor=monitor)
    load_program()
    import importlib
    import sys
    for name in sorted(n for n in sys.modules if n == "hubstack" or n.startswith("hubstack.")):
        importlib.reload(sys.modules[name])
    assert monitor.get_registered_resources() == {}


def test_users_via_set_mocks_outputs(zeitz):
    """Pulumi's documented style: set_mocks, build, assert inside apply."""
    pulumi.runtime.set_mocks(EchoMocks(), project="hubkit-hub", stack=zeitz.id, preview=True)
    from hubstack.identity import UPDATE_PASSWORD, HubIdentity
    from hubstack.providers import make_providers

    seen = []

    @pulumi.runtime.test
    def run():
        prov = make_providers(zeitz.id, True)
        ident = HubIdentity(zeitz, {m.username: "pw-" + m.username for m in zeitz.staff},
                            prov.keycloak, prov.realm)
        checks = []
        for user in ident.users.values():
            def check(args):
                urn, actions, username = args
                assert actions == [UPDATE_PASSWORD], f"{urn}: required actions {actions}"
                assert urn.endswith(f"::{zeitz.id}-user-{username}"), f"{urn}: not hub-prefixed"
                seen.append(urn)
            checks.append(pulumi.Output.all(user.urn, user.required_actions, user.username).apply(check))
        return pulumi.Output.all(*checks)

    run()
    assert len(seen) == len(zeitz.staff), seen


def test_user_count_actions_and_secret_passwords(zeitz):
    plan = offline_plan(zeitz)
    users = plan.by_type(USER)
    assert len(users) == len(zeitz.staff) > 0, [u.urn for u in users]
    assert sorted(u.inputs["username"] for u in users) == sorted(m.username for m in zeitz.staff)
    for u in users:
        assert "UPDATE_PASSWORD" in u.inputs.get("requiredActions", []), f"{u.urn}: no forced password change"
        # The recorded input arrives wrapped as a secret; mask() turns only those into [secret].
        assert u.inputs.get("initialPassword") == SECRET, f"{u.urn}: password not a secret"


def test_group_membership_and_admin_role(zeitz):
    plan = offline_plan(zeitz)
    (group,) = plan.by_type("keycloak:index/group:Group")
    assert group.inputs["name"] == f"hub-{zeitz.id}", group.urn
    (members,) = plan.by_type("keycloak:index/groupMemberships:GroupMemberships")
    assert sorted(members.inputs["members"]) == sorted(m.username for m in zeitz.staff), members.urn
    assert members.inputs["groupId"] == f"{group.name}-id", members.urn
    leads = sorted(m.username for m in zeitz.staff if m.role == "lead")
    role_maps = plan.by_type("keycloak:index/userRoles:UserRoles")
    assert sorted(r.name for r in role_maps) == [f"{zeitz.id}-roles-{u}" for u in leads]
    (role,) = plan.by_type("keycloak:index/role:Role")
    for r in role_maps:
        assert r.inputs["roleIds"] == [f"{role.name}-id"], r.urn


def test_dns_records_match_model_and_topology(zeitz):
    plan = offline_plan(zeitz)
    topo = build(zeitz)
    zone = zeitz.services.dns_zone + "."
    recs = {r.inputs["name"]: r for r in plan.by_type(RECORDSET)}
    router = zeitz.router.hostname
    expected = {
        f"{router}-vpn.{zone}": ["A", [str(zeitz.vpn.tunnel_address.ip)]],
        f"{router}.{zone}": ["A", [str(topo.wan_router.ip)]],
        f"ntp.{zone}": ["A", [str(a) for a in zeitz.services.central.ntp]],
        f"dns.{zone}": ["A", [str(a) for a in zeitz.services.central.dns]],
        f"log.{zone}": ["A", [str(zeitz.services.central.syslog)]],
        f"handbook.{zone}": ["CNAME", [f"handbook.{zone.split('.', 1)[1]}"]],
    }
    assert sorted(recs) == sorted(expected)
    for name, (typ, values) in expected.items():
        r = recs[name]
        assert r.inputs["type"] == typ, f"{r.urn}: type {r.inputs['type']}"
        assert r.inputs["records"] == values, f"{r.urn}: records {r.inputs['records']}"
        assert r.inputs["zoneId"] == f"{zeitz.id}-zone-id", f"{r.urn}: not in the hub's zone"
    (z,) = plan.by_type("openstack:dns/zone:Zone")
    assert z.inputs["name"] == zone, z.urn


def test_dhcp_uplink_has_no_public_router_record(example_hubs):
    hub = example_hubs["wittenberg"]
    assert hub.uplink.mode == "dhcp"
    names = [r.inputs["name"] for r in offline_plan(hub).by_type(RECORDSET)]
    assert f"{hub.router.hostname}.{hub.services.dns_zone}." not in names, names
    assert f"{hub.router.hostname}-vpn.{hub.services.dns_zone}." in names, names


def test_backup_container_versioning_and_quota(zeitz):
    plan = offline_plan(zeitz)
    (c,) = plan.by_type(CONTAINER)
    assert c.inputs["versioning"] is True, f"{c.urn}: versioning off"
    assert c.inputs["name"] == f"{zeitz.id}-backup", c.urn
    want = zeitz.services.backup.quota_gb * 1024 ** 3
    assert c.inputs["metadata"]["Quota-Bytes"] == str(want), f"{c.urn}: quota {c.inputs['metadata']}"


def test_dashboard_json_valid_and_in_hub_folder(zeitz):
    plan = offline_plan(zeitz)
    (d,) = plan.by_type(DASHBOARD)
    doc = json.loads(d.inputs["configJson"])
    assert doc["uid"].startswith(f"{zeitz.id}-"), d.urn
    assert zeitz.id in doc["tags"], d.urn
    assert len(doc["panels"]) == 2 + len(zeitz.network.segments), f"{d.urn}: panels"
    (folder,) = plan.by_type("grafana:oss/folder:Folder")
    assert d.inputs["folder"] == folder.inputs["uid"], d.urn
    (rules,) = plan.by_type("grafana:alerting/ruleGroup:RuleGroup")
    (rule,) = rules.inputs["rules"]
    assert "VPN tunnel down" in rule["name"], rules.urn
    assert rules.inputs["folderUid"] == folder.inputs["uid"], rules.urn
    for data in rule["datas"]:
        json.loads(data["model"])


def test_all_names_carry_hub_prefix(example_hubs):
    for hid, hub in example_hubs.items():
        for r in offline_plan(hub).resources:
            assert r.name.startswith(f"{hid}-"), f"{r.urn}: name outside prefix {hid}-"
            assert r.urn.startswith(f"urn:pulumi:{hid}::hubkit-hub::"), r.urn


@pytest.mark.parametrize("hub_id", ["naumburg", "wittenberg", "zeitz"])
def test_every_example_hub_runs(example_hubs, hub_id):
    hub = example_hubs[hub_id]
    plan = offline_plan(hub)
    assert plan.duplicates == []
    types = {r.type for r in plan.resources}
    assert {"hubkit:hub:HubIdentity", "hubkit:hub:HubDns", "hubkit:hub:HubBackup"} <= types
    assert ("hubkit:hub:HubMonitoring" in types) == hub.services.monitoring.enabled, hub_id
    assert plan.outputs["hub"] == hub_id
    assert plan.outputs["staff_users"] == sorted(m.username for m in hub.staff)
    # Every custom resource goes through the hub's explicit providers.
    for r in plan.resources:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert f"::{hub_id}-" in r.provider, f"{r.urn}: default provider {r.provider!r}"


def test_no_staff_gives_smaller_valid_stack(zeitz):
    full = offline_plan(zeitz)
    hub = zeitz.model_copy(update={"staff": []})
    plan = offline_plan(hub)
    assert plan.by_type(USER) == []
    assert plan.by_type("keycloak:index/groupMemberships:GroupMemberships") == []
    assert len(plan.by_type("keycloak:index/group:Group")) == 1
    assert len(plan.resources) < len(full.resources)
    assert plan.outputs["staff_users"] == []


def test_monitoring_disabled_gives_smaller_valid_stack(zeitz):
    services = zeitz.services.model_copy(update={"monitoring": Monitoring(enabled=False)})
    plan = offline_plan(zeitz.model_copy(update={"services": services}))
    assert not [r for r in plan.resources if r.type.startswith(("grafana:", "pulumi:providers:grafana"))], \
        [r.urn for r in plan.resources]
    assert "grafana_folder_uid" not in plan.outputs
    assert plan.by_type(CONTAINER), "backup must remain"


def test_duplicate_names_are_detected():
    """Mocks silently overwrite a duplicate URN: the recorder must notice it."""
    import pulumi_keycloak as keycloak

    def prog():
        keycloak.Group("x-dup", realm_id="r", name="a")
        keycloak.Group("x-dup", realm_id="r", name="b")

    plan = record(prog, "x")
    assert len(plan.duplicates) == 1, plan.duplicates
    assert plan.duplicates[0].endswith("keycloak:index/group:Group::x-dup"), plan.duplicates


def test_missing_password_is_refused(zeitz):
    hubstack = load_program()
    with pytest.raises(ValueError, match="zz-lead"):
        record(lambda: hubstack.program(zeitz, {}), zeitz.id)


def test_program_accepts_dumped_hub(zeitz):
    """Inline callers may pass Hub.model_dump(mode='json'), as the stack config holds it."""
    hubstack = load_program()
    pw = {m.username: "x" for m in zeitz.staff}
    a = record(lambda: hubstack.program(zeitz.model_dump(mode="json"), pw), zeitz.id)
    b = record(lambda: hubstack.program(zeitz, pw), zeitz.id)
    assert [r.to_json() for r in a.resources] == [r.to_json() for r in b.resources]


def test_stack_config_written_by_render_is_read_by_the_program(fleet, fleet_root):
    """The Pulumi CLI path: hub from `hubkit-hub:hub` in build/<id>/pulumi/Pulumi.<id>.yaml."""
    render = pytest.importorskip("hubkit.render")
    import yaml
    from pulumi.runtime import config as pconfig

    hub = fleet.hub("zeitz").model
    files = render.render_files(render.hub_context(hub, fleet_root))
    doc = yaml.safe_load(files["pulumi/Pulumi.zeitz.yaml"])
    pulumi.runtime.set_mocks(EchoMocks(), project="hubkit-hub", stack="zeitz", preview=True)
    pconfig.set_all_config({"hubkit-hub:hub": json.dumps(doc["config"]["hubkit-hub:hub"])})
    try:
        hubstack = load_program()
        assert hubstack.load_hub() == hub
        pconfig.set_config("hubkit-hub:staffPasswords",
                           json.dumps({m.username: "cfg-" + m.username for m in hub.staff}))
        plan = record(lambda: hubstack.program(hubstack.load_hub()), "zeitz")
        users = plan.by_type(USER)
        assert len(users) == len(hub.staff)
        for u in users:
            assert u.inputs["initialPassword"] == SECRET, f"{u.urn}: password from config not secret"
    finally:
        pconfig.set_all_config({}, [])
