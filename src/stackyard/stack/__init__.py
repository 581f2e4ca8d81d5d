"""Everyday operations on a stack: up/down/ps/build, logs, exec, doctor, the database."""
