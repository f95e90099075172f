"""The Pulumi engine and the resource providers hubkit runs for real: pins, lookup, offline env.

No prebuilt binary is downloaded, ever.  ``.ci/setup`` builds the engine
(``pulumi``, from Go module github.com/pulumi/pulumi/pkg/v3) and the Keycloak
provider (``pulumi-resource-keycloak``, bridged from the Terraform provider)
from the Go module proxy at the versions below, caches them under
``/var/cache/hubkit/`` keyed by version, and links them into
``/var/cache/hubkit/bin``.

Lookup, in this order: ``$HUBKIT_PULUMI_BIN`` (a directory; when set, the
only place looked at), then ``PATH``, then ``/var/cache/hubkit/bin``.  Every
engine run gets an environment that keeps it offline: no update check, no
automatic plugin download (a missing provider fails at once), and providers
found as ambient plugins next to the engine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

# The engine: pkg/v3 v3.272.0 (the Python SDK's version) is not served by the
# module proxy; v3.274.1 is, and the SDK talks to it unchanged (checked).
PULUMI_VERSION = "3.274.1"
# pulumi-keycloak 6.0.0: the newest release whose Terraform provider (v4.5.0)
# the proxy serves; the Python SDK is pinned to the same version.
KEYCLOAK_PROVIDER_VERSION = "6.0.0"
CACHE = Path("/var/cache/hubkit")
DEFAULT_BIN = CACHE / "bin"
BIN_ENV = "HUBKIT_PULUMI_BIN"
PROVIDERS = ("pulumi-resource-keycloak",)


def bin_dirs(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    if env.get(BIN_ENV):
        return [env[BIN_ENV]]
    return [*env.get("PATH", os.defpath).split(os.pathsep), str(DEFAULT_BIN)]


def find(name: str = "pulumi", env: Mapping[str, str] | None = None) -> str | None:
    """Where ``name`` is, by hubkit's lookup order, or None."""
    return shutil.which(name, path=os.pathsep.join(bin_dirs(env)))


def missing_providers(env: Mapping[str, str] | None = None) -> list[str]:
    return [p for p in PROVIDERS if find(p, env) is None]


def offline_env(pulumi_home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the engine: its own home, no network of its own, providers on PATH."""
    env = dict(os.environ if env is None else env)
    exe = find("pulumi", env)
    dirs = [str(Path(exe).parent)] if exe else []
    dirs += [str(Path(p).parent) for p in map(lambda n: find(n, env), PROVIDERS) if p]
    env["PATH"] = os.pathsep.join(dict.fromkeys(dirs + env.get("PATH", os.defpath).split(os.pathsep)))
    env.update(PULUMI_HOME=str(pulumi_home), PULUMI_SKIP_UPDATE_CHECK="true",
               PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true")
    return env
