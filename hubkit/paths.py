"""Where hubkit's own files live (templates, playbooks, stacks, examples).

hubkit is installed editable from its checkout, so these sit beside the package.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
PLAYBOOKS = ROOT / "playbooks"
STACKS = ROOT / "stacks"
EXAMPLE_FLEET = ROOT / "examples" / "fleet"
