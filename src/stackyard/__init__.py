"""stackyard: run a multi-service Python stack on Docker Compose, from a laptop to a production host."""

__version__ = "0.1.0"
