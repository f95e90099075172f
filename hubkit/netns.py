"""Run a Python function inside a network namespace, in a forked child.

The Pulumi engine must talk to the lab's Keycloak, which only the lab's mgmt
netns reaches; the host's own namespace must never get a route into a lab.
A forked child joins the netns (setns(2)) and runs the function there; the
engine and provider processes it starts inherit that netns.  The parent's
namespace is never changed.  The function's result (or its HubkitError) comes
back pickled through a pipe.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import traceback
from collections.abc import Callable
from typing import Any

from hubkit.errors import HubkitError

CLONE_NEWNET = 0x40000000


def _join(netns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), f"setns {netns}")
    finally:
        os.close(fd)


def _child(conn, netns: str | None, fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        if netns:
            _join(netns)
        conn.send(("ok", fn(*args, **kwargs)))
    except HubkitError as e:
        conn.send(("hubkit", (type(e).__name__, e.exit_code, e.message, e.hint)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_in(netns: str | None, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """``fn(*args, **kwargs)`` in a forked child, in netns ``netns`` (None: this process's);
    its return value, or its error re-raised."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, netns, fn, args, kwargs))
    proc.start()
    child.close()
    try:
        kind, value = parent.recv()
    except EOFError:
        proc.join()
        raise HubkitError(f"the worker{f' in netns {netns}' if netns else ''} died (exit {proc.exitcode})",
                          "run again with -v; the engine's output names the cause") from None
    except KeyboardInterrupt:
        proc.terminate()
        proc.join()
        raise
    proc.join()
    if kind == "ok":
        return value
    if kind == "hubkit":
        name, code, message, hint = value
        err = HubkitError(message, hint)
        err.exit_code = code
        raise err
    import logging
    logging.getLogger(__name__).debug("worker failed:\n%s", value)
    raise HubkitError(f"unexpected error in the worker: {value.splitlines()[0]}",
                      "this is a bug in hubkit; -vv shows the worker's traceback")
