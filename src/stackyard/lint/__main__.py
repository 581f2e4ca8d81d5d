"""python -m stackyard.lint [PROJECT_ROOT]"""

import pathlib
import sys

from stackyard import config
from stackyard.core.runner import Runner
from stackyard.errors import StackyardError, report
from stackyard.lint.run import run


def main(argv: list[str]) -> int:
    try:
        root = pathlib.Path(argv[0]).resolve() if argv else None
        return run(config.load(root), Runner(echo=False), sys.stdout)
    except (StackyardError, KeyboardInterrupt) as exc:
        return report(exc, verbose="--verbose" in argv)


sys.exit(main([a for a in sys.argv[1:] if a != "--verbose"]))
