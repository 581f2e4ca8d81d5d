"""Lock the reference app's dependencies: every package the image installs,
pinned to one version with the hashes of its files, so that an image built
today and one built next month hold the same bytes (pip --require-hashes).

    nox -s lock          # after changing a pin in app/requirements*.txt

`requirements.txt` (what the app imports: the pins a person edits) becomes
`requirements.lock` (those and everything they need). Each
`requirements-<part>.txt` (an image target's additions: flower, allinone, dev)
becomes `requirements-<part>.lock`: what it adds over the runtime's lock only,
at the versions the runtime's lock already fixes. Resolved for the image's
Python (3.13, Linux x86_64) by uv, whatever runs this."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PYTHON = "3.13"
PLATFORM = "x86_64-manylinux_2_28"
# A requirement line of a lock: `name==version \` then its `--hash=` lines.
ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?P<rest>[^\n]*\n(?:[ \t]+[^\n]*\n)*)", re.M
)


def compile_(sources: list[pathlib.Path]) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        out = pathlib.Path(scratch) / "out.lock"
        argv = ["uv", "pip", "compile", *map(str, sources), "--generate-hashes", "--no-header", "--quiet"]
        argv += ["--python-version", PYTHON, "--python-platform", PLATFORM, "--output-file", str(out)]
        subprocess.run(argv, check=True)
        return out.read_text()


def entries(lock: str) -> dict[str, str]:
    """Each package of a lock (lower-case name) -> its whole entry (pin, hashes, via comments)."""
    return {m["name"].lower().replace("_", "-"): m.group(0) for m in ENTRY.finditer(lock)}


def header(source: str, over: str = "") -> str:
    extra = f", over {over}" if over else ""
    return f"# Generated from {source}{extra} by `nox -s lock` (app/lock.py): do not edit.\n"


def main() -> int:
    main_txt = HERE / "requirements.txt"
    runtime = compile_([main_txt])
    (HERE / "requirements.lock").write_text(header(main_txt.name) + runtime)
    have = entries(runtime)
    for part in sorted(HERE.glob("requirements-*.txt")):
        added = entries(compile_([main_txt, part]))
        text = "".join(entry for name, entry in sorted(added.items()) if name not in have)
        part.with_suffix(".lock").write_text(header(part.name, "requirements.lock") + text)
        print(f"lock: {part.with_suffix('.lock').name}: {len(added) - len(have)} packages over the runtime's")
    print(f"lock: requirements.lock: {len(have)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
