"""The per-hub lock, between real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from hubkit.errors import LockedError
from hubkit.lock import hub_lock, lock_path

HOLDER = """
import sys
import time
from hubkit.lock import hub_lock
with hub_lock(sys.argv[1], sys.argv[2], command=sys.argv[3]):
    print("held", flush=True)
    sys.stdin.read()   # hold until the test closes our stdin (or kills us)
    time.sleep(float(sys.argv[4]))   # ...and a little longer: the contender must wait
"""


@pytest.fixture
def holder(tmp_path):
    procs = []

    def start(command="configure", hub="zeitz", linger=0.0):
        p = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), hub, command, str(linger)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "held"
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_second_process_is_refused_naming_the_holder(tmp_path, holder):
    p = holder("provision")
    with pytest.raises(LockedError) as exc:
        with hub_lock(tmp_path, "zeitz", command="configure"):
            pytest.fail("lock acquired while held")
    msg = exc.value.format()
    assert f"PID {p.pid}" in msg
    assert socket.gethostname() in msg
    assert "'provision'" in msg
    body = json.loads(lock_path(tmp_path, "zeitz").read_text())
    assert body["started"] in msg and body["started"].endswith("+00:00")
    assert exc.value.exit_code == 1


def test_other_hub_is_not_blocked(tmp_path, holder):
    holder("configure", hub="zeitz")
    with hub_lock(tmp_path, "naumburg", command="configure") as path:
        assert path.name == "naumburg.lock"


def test_stale_lock_of_killed_holder_is_taken_over(tmp_path, holder):
    p = holder("configure")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    # The dead holder's body is still there; the kernel released its flock.
    assert json.loads(lock_path(tmp_path, "zeitz").read_text())["pid"] == p.pid
    with hub_lock(tmp_path, "zeitz", command="provision"):
        body = json.loads(lock_path(tmp_path, "zeitz").read_text())
        assert body["pid"] == os.getpid() and body["command"] == "provision"


def test_wait_gets_the_lock_when_holder_finishes(tmp_path, holder):
    p = holder("configure", linger=0.5)
    p.stdin.close()   # the holder releases about 0.5 s from now
    with hub_lock(tmp_path, "zeitz", command="provision", wait=30):
        body = json.loads(lock_path(tmp_path, "zeitz").read_text())
        assert body["pid"] == os.getpid()
    assert p.wait() == 0


def test_wait_times_out_naming_the_holder(tmp_path, holder):
    p = holder("configure")
    with pytest.raises(LockedError, match=f"after waiting 0.3 s by PID {p.pid}"):
        with hub_lock(tmp_path, "zeitz", command="provision", wait=0.3):
            pass


def test_released_after_block_and_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with hub_lock(tmp_path, "zeitz", command="configure"):
            raise RuntimeError("boom")
    with hub_lock(tmp_path, "zeitz", command="configure"):
        pass
    assert lock_path(tmp_path, "zeitz").read_text() == ""
    assert oct(lock_path(tmp_path, "zeitz").stat().st_mode & 0o777) == "0o600"


def test_reentrant_within_one_process(tmp_path, holder):
    """`hubkit open` holds the lock and calls configure/provision, which take it again."""
    with hub_lock(tmp_path, "zeitz", command="open"):
        with hub_lock(tmp_path, "zeitz", command="provision"):
            body = json.loads(lock_path(tmp_path, "zeitz").read_text())
            assert body["command"] == "open"   # the outer holder stays named
        # Still held after the inner block: another process is refused.
        code = ("import sys\nfrom hubkit.lock import hub_lock\nfrom hubkit.errors import LockedError\n"
                "try:\n    hub_lock(sys.argv[1], 'zeitz', command='configure').__enter__()\n"
                "except LockedError as e:\n    print(e.format()); sys.exit(7)\n")
        res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert res.returncode == 7 and f"PID {os.getpid()}" in res.stdout, res.stdout + res.stderr
