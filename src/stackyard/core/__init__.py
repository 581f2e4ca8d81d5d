"""Running things: commands as data, the one runner, host processes, tables."""
