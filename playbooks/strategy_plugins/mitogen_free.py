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

    def run(self, iterator, play_context):
        _warm_parent_for_forks()
        return super().run(iterator, play_context)


def _warm_parent_for_forks() -> None:
    """Do once in the parent what every forked task worker would otherwise redo.

    Ansible forks one worker per task and host, and a worker's work is lost when
    it exits.  Measured with a sampling profiler on an idempotent Zeitz run,
    about a third of the workers' time went to importing every filter and test
    plugin on the first filter lookup (Jinja2Loader fills its cache lazily, and
    the parent had never filled it).  Loaded here, the forks inherit it.
    ``gc.freeze`` moves what the parent holds out of the collector's reach, so a
    worker's garbage collection does not touch (and copy) the parent's pages.
    """
    import gc

    from ansible.plugins.loader import filter_loader, test_loader

    for loader in (filter_loader, test_loader):
        for _plugin in loader.all():
            pass
    gc.freeze()
