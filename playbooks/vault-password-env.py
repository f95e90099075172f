#!/usr/bin/env python3
"""Ansible --vault-password-file script: print HUBKIT_VAULT_PASSWORD.

The password goes from hubkit's environment straight to ansible-vault through
this pipe, so it is never written to disk.
"""
import os
import sys

password = os.environ.get("HUBKIT_VAULT_PASSWORD", "")
if not password:
    sys.stderr.write("HUBKIT_VAULT_PASSWORD is not set\n")
    sys.exit(1)
sys.stdout.write(password + "\n")
