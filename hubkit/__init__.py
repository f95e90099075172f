"""hubkit: infrastructure as code for opening DigitalHubs."""

import logging

__version__ = "0.2.0"

# A library logs through a NullHandler; the CLI decides what to show.
logging.getLogger(__name__).addHandler(logging.NullHandler())
