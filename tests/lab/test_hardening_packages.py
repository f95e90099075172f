"""Packages for hardening and the Lynis scan: offline in the lab, never on a hub host by a role,
and Lynis's report read right (no lab needed)."""

from __future__ import annotations

import pytest
import yaml

from hubkit.errors import HubkitError
from hubkit.lab import image, lynis
from hubkit.paths import PLAYBOOKS


def _defaults(role: str) -> dict:
    return yaml.safe_load((PLAYBOOKS / "roles" / role / "defaults" / "main.yml").read_text())


def test_every_role_package_is_installable_offline_in_the_lab():
    offline = set(image.PACKAGES) | set(image.ROLE_PACKAGES)
    wanted = set(_defaults("common")["common_packages"]) | set(_defaults("router")["router_packages"]) \
        | set(_defaults("router")["router_wg_userspace_packages"])
    assert {"libpam-pwquality", "libpam-tmpdir", "debsums", "nftables"} <= wanted
    assert wanted - offline == set()


def test_the_scanner_is_in_the_image_cache_but_no_role_installs_it():
    assert image.AUDIT_PACKAGES == ["lynis"]
    assert not set(image.AUDIT_PACKAGES) & (set(image.PACKAGES) | set(image.ROLE_PACKAGES))
    for path in (PLAYBOOKS / "roles").rglob("*.yml"):
        assert "lynis" not in path.read_text(), path


def test_the_image_key_covers_the_audit_packages(monkeypatch):
    before = image.image_hash()
    monkeypatch.setattr(image, "AUDIT_PACKAGES", ["lynis", "aide"])
    assert image.image_hash() != before


REPORT = """report_version_major=1
hardening_index=81
suggestion[]=SSH-7408|Consider hardening SSH configuration|Port (set 22 to )|-|
suggestion[]=KRNL-6000|One or more sysctl values differ from the scan profile|kernel.kptr_restrict (exp: 2)|-|
suggestion[]=KRNL-6000|One or more sysctl values differ from the scan profile|kernel.sysrq (exp: 0)|-|
warning[]=NETW-2705|Couldn't find 2 responsive nameservers|-|-|
"""


def test_lynis_report_index_and_test_ids():
    s = lynis.parse("zeitz-rt01", REPORT)
    assert (s.host, s.index) == ("zeitz-rt01", 81)
    assert s.suggestions == ("KRNL-6000", "SSH-7408") and s.warnings == ("NETW-2705",)


def test_a_report_without_an_index_is_an_error_not_zero():
    with pytest.raises(HubkitError) as e:
        lynis.parse("zeitz-ws01", "report_version_major=1\n")
    assert "zeitz-ws01" in e.value.message and "hardening_index" in e.value.message
