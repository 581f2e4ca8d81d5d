"""Invoke entry point: `inv --list`. The tasks live in the stackyard package."""

from stackyard.tasks import namespace

ns = namespace
