"""pytest plugin shared by the role suites and the hub probes.

Loaded with ``-p hubkit.verify.plugin``.  It gives the suites what they
compare the hosts against (the hub model, ``hubkit.topology`` and the
rendered tree), registers the ``bsi`` marker, and reports each check's
outcome as JSON for ``hubkit.verify`` (never parsed from screen text).

Options:
  --hubkit-context FILE   JSON written by hubkit.verify (fleet, hub, build dir,
                          ssh settings, lab facts).
  --hubkit-report FILE    where to write the JSON list of check outcomes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest

HUB_HOST = "hub"


def pytest_addoption(parser):
    group = parser.getgroup("hubkit")
    group.addoption("--hubkit-context", dest="hubkit_context", default=None,
                    help="JSON context written by `hubkit verify`.")
    group.addoption("--hubkit-report", dest="hubkit_report", default=None,
                    help="Write the checks' outcomes as JSON to this file.")


def pytest_configure(config):
    config.addinivalue_line("markers", "bsi(*ids): IT-Grundschutz requirement ids a check evidences")
    if config.getoption("hubkit_report"):
        config.pluginmanager.register(_Reporter(config.getoption("hubkit_report")), "hubkit-report")


# -- assertions with clean messages ------------------------------------------

def expect(ok: bool, expected, found) -> None:
    """Fail the check with one line 'expected X, found Y' (no traceback)."""
    __tracebackhide__ = True
    if not ok:
        pytest.fail(f"expected {expected}, found {found}", pytrace=False)


# The audit reads a skip with this prefix as "does not apply to this hub or host"
# (hubkit.audit.live.NOT_APPLICABLE); any other skip means "could not be shown here"
# and keeps the check's BSI row from passing.
NOT_APPLICABLE = "not applicable: "

# The lowest port of Linux's default ephemeral range: the listener checks accept a sending
# socket (rsyslog's forwarding, dnsmasq's forwarded queries: min-port in the router's dnsmasq
# config) on the wildcard address only from here up.
EPHEMERAL_PORT_MIN = 32768


def not_applicable(reason: str) -> None:
    """Skip a check that does not apply here (no such host in this hub, ...), saying why."""
    __tracebackhide__ = True
    pytest.skip(NOT_APPLICABLE + reason)


def expect_equal(found, expected, what: str = "") -> None:
    __tracebackhide__ = True
    prefix = f"{what}: " if what else ""
    if found != expected:
        pytest.fail(f"{prefix}expected {expected!r}, found {found!r}", pytrace=False)


# -- context -------------------------------------------------------------------

@dataclass
class VerifyContext:
    """What the suites compare against, and how to reach every hub host."""

    raw: dict

    @property
    def hub_id(self) -> str:
        return self.raw["hub_id"]

    @property
    def lab(self) -> dict | None:
        return self.raw.get("lab")

    @property
    def build_dir(self) -> Path:
        return Path(self.raw["build_dir"])

    @cached_property
    def lab_public_key(self) -> str | None:
        """The lab's own key ("TYPE BASE64"), authorized for the connect admin in a lab only."""
        if not self.lab:
            return None
        try:
            return " ".join((Path(self.lab["dir"]) / "id_ed25519.pub").read_text().split()[:2])
        except OSError:
            return None

    @cached_property
    def fleet(self):
        """The whole fleet: the concentrator's suite compares with every hub that uses it."""
        from hubkit.fleet.repo import load_fleet
        return load_fleet(self.raw["fleet_root"])

    @cached_property
    def hub(self):
        rec = self.fleet.hub(self.hub_id)
        if rec.model is None:
            pytest.exit(f"hub {self.hub_id} does not validate; run `hubkit validate {self.hub_id}`", 3)
        return rec.model

    @cached_property
    def topo(self):
        from hubkit.topology import build
        return build(self.hub)

    def plan(self, name: str):
        for h in self.topo.hosts():
            if h.name == name:
                return h
        raise KeyError(f"{name} is not a host of hub {self.hub_id}")

    def host(self, name: str):
        """A testinfra host for hub host ``name`` (cached: one connection per host)."""
        import testinfra
        ssh = self.raw.get("ssh") or {}
        if ssh.get("backend") == "local":
            return testinfra.get_host("local://")
        return testinfra.get_host(f"ssh://{name}", ssh_config=ssh.get("config"),
                                  ssh_extra_args=ssh.get("extra_args"),
                                  sudo=bool(ssh.get("sudo")))

    def rendered(self, host: str, path: str) -> str | None:
        """Text of the rendered file ``path`` (absolute on the host), or None."""
        p = self.build_dir / "hosts" / host / path.lstrip("/")
        return p.read_text() if p.is_file() else None

    def rendered_files(self, host: str) -> list[str]:
        base = self.build_dir / "hosts" / host
        if not base.is_dir():
            return []
        return sorted("/" + str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def context(config) -> VerifyContext:
    """The run's context (cached on the pytest config; usable in pytest_generate_tests)."""
    ctx = getattr(config, "_hubkit_context", None)
    if ctx is None:
        path = config.getoption("hubkit_context") or os.environ.get("HUBKIT_VERIFY_CONTEXT")
        if not path:
            raise pytest.UsageError("the hubkit suites need --hubkit-context FILE "
                                    "(run them with `hubkit verify`)")
        ctx = VerifyContext(json.loads(Path(path).read_text()))
        config._hubkit_context = ctx
    return ctx


@pytest.fixture(scope="session")
def hk(pytestconfig) -> VerifyContext:
    return context(pytestconfig)


@pytest.fixture(scope="session")
def hub(hk):
    return hk.hub


@pytest.fixture(scope="session")
def topo(hk):
    return hk.topo


@pytest.fixture(scope="module")
def plan(host, hk):
    """The ``hubkit.topology`` plan of the host under test."""
    return hk.plan(_host_name(host))


def _host_name(host) -> str:
    return getattr(host.backend, "hostname", None) or host.backend.get_hostname()


# -- reporting -------------------------------------------------------------------

def bsi_of(item) -> tuple[str, ...]:
    refs = set()
    for m in item.iter_markers("bsi"):
        refs.update(str(a) for a in m.args)
    return tuple(sorted(refs))


def _check_id(item) -> tuple[str, str]:
    """(host, id): id is '<suite>::<test>[params]' without the testinfra host part."""
    suite = Path(str(item.fspath)).stem.removeprefix("test_")
    host = HUB_HOST
    params = ""
    cs = getattr(item, "callspec", None)
    if cs is not None:
        th = cs.params.get("_testinfra_host")
        rest = cs.id
        if th is not None:
            host = _host_name(th)
            rest = rest.replace(th.backend.get_pytest_id(), "")
        params = "-".join(p for p in rest.split("-") if p)
    name = item.originalname + (f"[{params}]" if params else "")
    return host, f"{suite}::{name}"


class _Reporter:
    def __init__(self, path: str):
        self.path = path
        self.results: dict[str, dict] = {}

    def pytest_collectreport(self, report):
        if report.failed:
            self.results[report.nodeid] = {
                "id": f"collect::{report.nodeid}", "host": HUB_HOST, "status": "error",
                "bsi": [], "message": _short(str(report.longrepr))}

    def pytest_runtest_logreport(self, report):
        r = self.results.get(report.nodeid)
        if r is None:
            return
        if report.when == "call" or report.failed or report.skipped:
            status = r["status"]
            if report.skipped:
                status = "skipped"
                msg = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                r["message"] = _short(msg.removeprefix("Skipped: "))
            elif report.failed:
                status = "failed" if report.when == "call" else "error"
                r["message"] = _message(report)
            elif status == "pending":
                status = "passed"
            r["status"] = status if r["status"] in ("pending", "passed") else r["status"]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        host, cid = _check_id(item)
        self.results[item.nodeid] = {"id": cid, "host": host, "status": "pending",
                                     "bsi": list(bsi_of(item)), "message": ""}
        yield

    def pytest_sessionfinish(self, session):
        out = [dict(r, status=("error" if r["status"] == "pending" else r["status"]))
               for r in self.results.values()]
        from hubkit.atomic import write_atomic
        write_atomic(Path(self.path), json.dumps(sorted(out, key=lambda r: (r["host"], r["id"])), indent=1,
                                                 sort_keys=True))


def pytest_runtest_setup(item):
    # The audit maps results by these tags: an untagged check must not pass silently.
    if not bsi_of(item):
        pytest.fail("check has no @pytest.mark.bsi(...) tag; every check must name the "
                    "IT-Grundschutz requirement it evidences", pytrace=False)


def _message(report) -> str:
    lr = report.longrepr
    crash = getattr(lr, "reprcrash", None)
    text = crash.message if crash is not None else str(lr)
    # pytest.fail(..., pytrace=False) reports as "Failed: <msg>": keep just the message.
    text = text.removeprefix("Failed: ")
    # testinfra raises RuntimeError(CommandResult) when ssh itself fails (rc 255).
    m = re.search(r"exit_status=255.*?_stderr=b?'(.*?)'", text, re.S)
    if m:
        return _short("cannot reach the host over ssh: " + m.group(1).replace("\\r\\n", " ").strip())
    return _short(text)


def _short(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Runs named shell commands on the host in one go (one ssh round trip, one sudo) and
# returns {name: [rc, stdout, stderr]} as JSON.  Standard library only.
_SNAPSHOT = r"""
import json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
cmds = json.loads(sys.argv[1])
def run(item):
    name, cmd = item
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, errors="replace")
    return name, [p.returncode, p.stdout, p.stderr]
with ThreadPoolExecutor(max_workers=6) as pool:
    print(json.dumps(dict(pool.map(run, sorted(cmds.items())))))
"""


@dataclass(frozen=True)
class Out:
    rc: int
    stdout: str
    stderr: str


def snapshot(host, commands: dict[str, str]) -> dict[str, Out]:
    """Run ``commands`` ({name: shell command}) on ``host`` in one round trip; {name: Out}.

    Each check would otherwise cost an ssh channel plus a sudo per command;
    batching them is what keeps a 7-host verify within seconds.
    """
    r = host.run("python3 -c %s %s", _SNAPSHOT, json.dumps(commands))
    try:
        data = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail(f"expected the host to answer a batch of {len(commands)} commands, found rc {r.rc}: "
                    f"{r.stderr.strip()[-300:]}", pytrace=False)
    return {k: Out(*v) for k, v in data.items()}
