"""The ``mitogen_free`` strategy: Ansible's ``free`` strategy on Mitogen's connection layer.

Mitogen keeps one Python interpreter per host alive for the whole run and runs
modules inside it, instead of one SSH exec plus a fresh interpreter and an
AnsiballZ unpack per task.  An idempotent hub run is dominated by exactly that
per-task cost, so this is hubkit's default (``strategy`` in ansible.cfg).

This file only re-exports Mitogen's own plugin from the installed
``ansible_mitogen`` package, so no site-packages path has to be configured.
Set ``HUBKIT_ANSIBLE_STRATEGY=free`` to run on stock Ansible instead.
"""

from __future__ import annotations

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError as exc:  # pragma: no cover - only without the dependency
    from ansible.errors import AnsibleError

    raise AnsibleError(
        "the mitogen_free strategy needs the 'mitogen' package in Ansible's Python "
        "(pip install mitogen), or set HUBKIT_ANSIBLE_STRATEGY=free"
    ) from exc

_Free = ansible_mitogen.loaders.strategy_loader.get("free", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Free):
    pass
