"""Pure argv builders for every docker, compose and git call. Nothing here runs."""
