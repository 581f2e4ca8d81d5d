"""Reading the engine: container state, Compose's JSON, failure diagnosis, host ports."""
