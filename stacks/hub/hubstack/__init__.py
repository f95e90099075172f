"""The hub's cloud services as a Pulumi program.

Nothing is created at import time: ``program(hub)`` declares the resources.
The package is imported by the Pulumi CLI (``__main__.py``) and by hubkit's
offline plan and Automation API runs (``hubkit.cloud.stack``).
"""

from hubstack.program import OFFLINE_PASSWORD, PARTS, load_hub, program, realm_program

__all__ = ["OFFLINE_PASSWORD", "PARTS", "load_hub", "program", "realm_program"]
