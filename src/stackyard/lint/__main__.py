"""python -m stackyard.lint [PROJECT_ROOT] [--verbose]"""

import pathlib
import sys

from stackyard import config
from stackyard.core.runner import Runner
from stackyard.errors import ConfigError, StackyardError, report
from stackyard.lint.run import run
from stackyard.session import Session


def session(project: config.Project) -> Session:
    """The one Session of a lint run; any environment will do: lint makes one per environment."""
    envs = project.environments
    if not envs:
        raise ConfigError(
            f"no environment in {project.compose_dir}", "add compose.yaml and a compose.<env>.yaml beside it"
        )
    return Session(project, envs.get(project.default_env) or next(iter(envs.values())), Runner(echo=False))


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--verbose"]
    try:
        root = pathlib.Path(args[0]).resolve() if args else None
        return run(session(config.load(root)))
    except (StackyardError, KeyboardInterrupt) as exc:
        return report(exc, verbose="--verbose" in argv)


sys.exit(main(sys.argv[1:]))
