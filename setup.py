"""Build hook: the wheel carries hubkit's run-time files.

The repository keeps templates/, playbooks/, stacks/ and examples/ at its top
level (their one source).  ``build_py`` copies them into ``hubkit/_data/`` of
the build, where ``hubkit.paths`` finds them in an installed package.  An
editable install skips the copy: ``hubkit.paths`` then uses the checkout.
The sdist carries the same directories (MANIFEST.in), so a wheel built from
it is complete too.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("templates", "playbooks", "stacks", "examples")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".hubkit", "build")


class BuildWithData(build_py):
    def run(self):
        if not getattr(self, "editable_mode", False):
            # `pip wheel .` builds in the checkout's build/: a module renamed or removed since the
            # last build would otherwise stay in build/lib and ship in the wheel.
            shutil.rmtree(Path(self.build_lib) / "hubkit", ignore_errors=True)
        super().run()
        if getattr(self, "editable_mode", False):
            return
        src = Path(__file__).resolve().parent
        dest = Path(self.build_lib) / "hubkit" / "_data"
        for name in DATA_DIRS:
            shutil.rmtree(dest / name, ignore_errors=True)
            # symlinks=False: the wheel holds plain files, whatever the checkout uses.
            shutil.copytree(src / name, dest / name, ignore=_IGNORE)


setup(cmdclass={"build_py": BuildWithData})
