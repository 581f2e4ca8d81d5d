"""`nox -s smoke`: the whole stack end to end under a throwaway project."""
