"""`nox -s lint`: everything that can be wrong before it runs.

Dockerfiles (hadolint), compose files (`config -q` for every environment and
profile combination; ports published from internal networks only, in every
environment; our security rules on the merged staging and prod configs),
Python (ruff check and format), shell (shellcheck), YAML (yamllint) and env
files (the env-layering rules that need no secret). One line per
finding, `file:line: rule: message`, then a summary; exit 1 on any error."""
