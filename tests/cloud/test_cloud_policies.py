"""Policies over the plan catch a deliberately broken plan."""

from __future__ import annotations

from dataclasses import replace

from hubkit.cloud.plan import offline_plan
from hubkit.cloud.policies import CONTAINER, DASHBOARD, POLICIES, USER, check


def _broken(plan):
    out = []
    for r in plan.resources:
        inputs = dict(r.inputs)
        if r.type == USER and r.inputs["username"] == "zz-lead":
            inputs["requiredActions"] = []
            inputs["initialPassword"] = {"temporary": True, "value": "plaintext"}
        if r.type == CONTAINER:
            inputs["versioning"] = False
        if r.type == DASHBOARD:
            inputs["configJson"] = "{not json"
        name = "stray-folder" if r.type == "grafana:oss/folder:Folder" else r.name
        out.append(replace(r, name=name, inputs=inputs))
    return replace(plan, resources=out, duplicates=["urn:pulumi:zeitz::hubkit-hub::x::zeitz-dup"])


def test_clean_plans_pass(example_hubs):
    for hub in example_hubs.values():
        assert check(offline_plan(hub)) == [], hub.id


def test_broken_plan_is_caught(zeitz):
    plan = _broken(offline_plan(zeitz))
    found = check(plan)
    codes = sorted({f.code for f in found})
    assert codes == sorted(POLICIES), [f.format() for f in found]
    by_code = {f.code: f for f in found}
    assert "zeitz-user-zz-lead" in by_code["HK201"].message
    assert "zeitz-backup-container" in by_code["HK202"].message
    assert "stray-folder" in by_code["HK203"].message
    assert "zeitz-user-zz-lead" in by_code["HK204"].message
    assert "zeitz-dup" in by_code["HK205"].message
    assert "zeitz-dashboard" in by_code["HK206"].message
    for f in found:
        assert f.hub == "zeitz" and f.hint, f.format()
        # Findings never quote input values, let alone a leaked password.
        assert "plaintext" not in f.format()
