"""Where hubkit's own files live (templates, playbooks, stacks, examples).

An installed wheel carries them inside the package (``hubkit/_data/``, copied
there by the build, see setup.py); a checkout, installed editable, keeps them
beside the package at the repository's top level, their one source.
"""

from importlib import resources
from pathlib import Path

PACKAGE = Path(str(resources.files("hubkit")))
_DATA = PACKAGE / "_data"
ROOT = _DATA if _DATA.is_dir() else PACKAGE.parent
TEMPLATES = ROOT / "templates"
PLAYBOOKS = ROOT / "playbooks"
STACKS = ROOT / "stacks"
EXAMPLE_FLEET = ROOT / "examples" / "fleet"
FLEET_CI = ROOT / "examples" / "fleet-ci"
