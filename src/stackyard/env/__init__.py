"""Env files: parsing, the schema, layering, checks, generated secrets, masking, the env tasks."""
