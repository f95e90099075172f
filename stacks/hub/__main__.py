"""Entry point for the Pulumi CLI: everything happens in ``program``."""

from hubstack import load_hub, program

program(load_hub())
