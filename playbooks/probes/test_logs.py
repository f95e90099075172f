"""Log forwarding, shown with a real message: each host logs a uniquely tagged line, and the
central log sink must have received it (row 13).  Reading the sink needs access to it: in the
lab it is the core's rsyslog (playbooks/roles/core/tasks/lab_logsink.yml), one file per host.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from hubkit.verify.plugin import expect, not_applicable

# Where the lab's sink writes (core role, core_lab_log_dir): one file per sending host name.
LAB_SINK_DIR = "/var/log/hubkit"
ARRIVAL_WAIT = 10.0  # s: UDP forwarding is asynchronous; rsyslog retries a queued message


def reaches_sink(topo, host) -> bool:
    """Whether the design routes this host's logs to the central sink: the router, and hosts on
    segments that reach the core networks (VPN segments; mgmt may reach everything)."""
    if host.role == "router":
        return True
    seg = topo.segments.get(host.segment or "")
    return seg is not None and (seg.vpn_access or seg.name == "mgmt")


def _senders(topo):
    return [h for h in topo.hosts() if h.role in ("router", "switch", "workstation")]


def pytest_generate_tests(metafunc):
    if "log_host" in metafunc.fixturenames:
        from hubkit.verify.plugin import context
        metafunc.parametrize("log_host", [h.name for h in _senders(context(metafunc.config).topo)])


@pytest.fixture(scope="session")
def sent_logs(hk, hub, topo):
    """Log one tagged line on every sending host at once, then wait (bounded) until the sink has
    them all: {host: (tag, arrived)}."""
    if hub.services.central.syslog is None:
        return {"skip": "the hub model names no central log sink"}
    if not hk.lab:
        return {"unshown": "the central log sink is not managed by hubkit at a site, so verify cannot "
                           "read it; look for a `logger` line of each host there"}
    run = uuid.uuid4().hex[:12]
    tags = {h.name: f"hubkit-probe-{run}-{h.name}" for h in _senders(topo) if reaches_sink(topo, h)}

    def send(name):
        hk.host(name).run("logger -t hubkit-probe %s", tags[name])

    with ThreadPoolExecutor(max_workers=max(1, len(tags))) as pool:
        list(pool.map(send, sorted(tags)))
    core = hk.host(topo.core.name)
    arrived: set[str] = set()
    deadline = time.monotonic() + ARRIVAL_WAIT
    while True:
        out = core.run("grep -rhF -e %s %s/ || true", f"hubkit-probe-{run}-", LAB_SINK_DIR).stdout
        arrived = {n for n, t in tags.items() if t in out}
        if arrived == set(tags) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return {n: (t, n in arrived) for n, t in tags.items()}


@pytest.mark.bsi("OPS.1.1.5.A5", "OPS.1.1.5.A6")
def test_logs_reach_central_sink(sent_logs, topo, log_host):
    """A message logged on the host arrives at the central log sink."""
    if "skip" in sent_logs:
        not_applicable(sent_logs["skip"])
    if "unshown" in sent_logs:
        pytest.skip(sent_logs["unshown"])
    if log_host not in sent_logs:
        seg = next(h for h in topo.hosts() if h.name == log_host).segment
        not_applicable(f"{log_host} is on the {seg} segment, which by design has no path to the central sink "
                       "(it reaches the WAN only): its logs stay on the host")
    tag, arrived = sent_logs[log_host]
    expect(arrived, f"the line {tag} logged on {log_host} at the central sink ({LAB_SINK_DIR} on {topo.core.name})",
           f"not there after {ARRIVAL_WAIT:.0f}s")
