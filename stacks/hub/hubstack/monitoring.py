"""HubMonitoring: a Grafana folder, a dashboard (JSON from a template) and a VPN alert."""

from __future__ import annotations

import json

import jinja2
import pulumi
import pulumiverse_grafana as grafana

from hubkit.model import Hub
from hubkit.paths import TEMPLATES
from hubkit.topology import Topology

DASHBOARD_TEMPLATE = "pulumi/dashboard.json.j2"
# WireGuard re-handshakes every 2 minutes while traffic flows (keepalive keeps
# it flowing); 3 minutes without one means the tunnel is down.
HANDSHAKE_MAX_AGE = 180


def folder_uid(hub: Hub) -> str:
    return f"{hub.id}-hub"


def handshake_expr(hub: Hub) -> str:
    return f'time() - wireguard_latest_handshake_seconds{{hub="{hub.id}"}}'


def render_dashboard(hub: Hub, topo: Topology, datasource_uid: str) -> str:
    """The dashboard JSON, rendered from ``templates/pulumi/dashboard.json.j2``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    text = env.get_template(DASHBOARD_TEMPLATE).render(
        uid=f"{hub.id}-overview", title=f"{hub.name}: overview", hub_id=hub.id,
        datasource_uid=datasource_uid, handshake_expr=handshake_expr(hub),
        handshake_max_age=HANDSHAKE_MAX_AGE,
        segments=[{"name": s.name, "prefix": str(s.prefix), "iface": s.router_iface}
                  for s in topo.segments.values()])
    # Normalise (and prove it is JSON): stable keys, no template whitespace.
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def _vpn_rule(hub: Hub, datasource_uid: str) -> grafana.alerting.RuleGroupRuleArgs:
    query = {"refId": "A", "expr": handshake_expr(hub), "instant": True}
    threshold = {"refId": "B", "type": "threshold", "expression": "A",
                 "conditions": [{"evaluator": {"type": "gt", "params": [HANDSHAKE_MAX_AGE]}}]}
    rel = grafana.alerting.RuleGroupRuleDataRelativeTimeRangeArgs(from_=600, to=0)
    return grafana.alerting.RuleGroupRuleArgs(
        name=f"{hub.id}: VPN tunnel down", condition="B", for_="5m",
        no_data_state="Alerting", exec_err_state="Alerting",
        labels={"hub": hub.id, "severity": "critical"},
        annotations={"summary": f"WireGuard tunnel of {hub.name} has had no handshake for "
                                f"more than {HANDSHAKE_MAX_AGE} s"},
        datas=[
            grafana.alerting.RuleGroupRuleDataArgs(ref_id="A", datasource_uid=datasource_uid,
                                                   relative_time_range=rel, model=json.dumps(query, sort_keys=True)),
            grafana.alerting.RuleGroupRuleDataArgs(ref_id="B", datasource_uid="__expr__",
                                                   relative_time_range=rel, model=json.dumps(threshold, sort_keys=True)),
        ])


class HubMonitoring(pulumi.ComponentResource):
    def __init__(self, hub: Hub, topo: Topology, provider: pulumi.ProviderResource,
                 datasource_uid: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hubkit:hub:HubMonitoring", f"{hub.id}-monitoring", None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.folder = grafana.oss.Folder(f"{hub.id}-folder", uid=folder_uid(hub), title=hub.name, opts=child)
        self.dashboard = grafana.oss.Dashboard(
            f"{hub.id}-dashboard", folder=self.folder.uid,
            config_json=render_dashboard(hub, topo, datasource_uid), overwrite=True, opts=child)
        self.alerts = grafana.alerting.RuleGroup(
            f"{hub.id}-alerts", name=f"{hub.id}-vpn", folder_uid=self.folder.uid, interval_seconds=60,
            rules=[_vpn_rule(hub, datasource_uid)], opts=child)
        self.register_outputs({"folder_uid": self.folder.uid, "dashboard_uid": self.dashboard.uid})
