"""`inv config` for an environment on Swarm: the stack file `inv up` deploys,
rendered from the compose config (Compose checks the files first), then what the
rendering changed and why, as YAML comments (the output can be deployed as it is,
unless a value had to be masked)."""

from __future__ import annotations

from stackyard.env import ops as envops
from stackyard.env.masking import mask
from stackyard.session import Session
from stackyard.swarm import render
from stackyard.swarm.run import rendered


def config(s: Session) -> None:
    """Print the rendered stack file and its render notes. Secrets are in it by name
    (`<project>_<secret>_<hash of the value>`), never by value; a secret's value found
    anyway (in a variable no secret names) is masked with its length, as `inv config` does."""
    stack = rendered(s)
    text = render.to_yaml(stack)
    s.print(f"# stack {s.env.project} ({s.env.name}): the file `inv up --env {s.env.name}` deploys")
    s.print(mask(text, s.env, names=envops.secret_names(s), with_length=True).rstrip())
    if stack.notes:
        s.print("# rendered from the compose config; what changed, and why:")
        for note in stack.notes:
            s.print(f"#   - {note}")
