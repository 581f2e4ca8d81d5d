"""Setting stackyard up in a compose project: `inv init`."""
