"""envinit: the local file's text from the schema, strong secrets, and a
file created owner-only that is never silently replaced."""

from __future__ import annotations

import itertools
import stat

import pytest

from stackyard.env import file as envfile
from stackyard.env import generate as envinit
from stackyard.env import schema as envschema
from stackyard.env.check import secret_problems
from stackyard.errors import StackyardError

SCHEMA = envschema.parse_text("""\
# [secret] [required] Database password.
DB_PASSWORD=
# [secret] Optional signing key.
SIGNING_KEY=
# [required] Public name.
SITE_ADDRESS=
# [required] Database user.
DB_USER=app
# Not required.
PORT=8000
""")


def values(text: str) -> dict[str, str | None]:
    return {e.key: e.value for e in envfile.parse_text(text)}


def test_every_secret_gets_a_strong_value():
    got = values(envinit.render("prod", SCHEMA, set()))
    for name in ("DB_PASSWORD", "SIGNING_KEY"):
        assert len(got[name]) >= 43
        assert secret_problems(got[name]) == []
    assert got["DB_PASSWORD"] != got["SIGNING_KEY"]


def test_required_variables_not_set_elsewhere_get_an_empty_line():
    got = values(envinit.render("prod", SCHEMA, already_set={"DB_USER"}))
    assert got["SITE_ADDRESS"] == ""
    assert "DB_USER" not in got and "PORT" not in got
    assert list(got) == ["DB_PASSWORD", "SIGNING_KEY", "SITE_ADDRESS"]


def test_comments_carry_the_descriptions():
    text = envinit.render("staging", SCHEMA, set(), generate=lambda: "x")
    assert text.startswith("# staging: ")
    assert "# Database password.\nDB_PASSWORD=x\n" in text
    assert "# required: Public name.\nSITE_ADDRESS=\n" in text


def test_the_generator_is_injected():
    counter = itertools.count(1)
    got = values(envinit.render("dev", SCHEMA, set(), generate=lambda: f"generated-{next(counter)}"))
    assert (got["DB_PASSWORD"], got["SIGNING_KEY"]) == ("generated-1", "generated-2")


def test_new_secret_draws_again_when_a_value_would_fail_env_check(monkeypatch):
    # A random draw that env.check would reject (here: far too regular) is never handed out.
    draws = iter(["ab" * 22, "pmkdv-ECv35B1W73B5XvJKuSvwGXFzgFaxUjkocnbNY"])
    monkeypatch.setattr(envinit.random_secrets, "token_urlsafe", lambda n: next(draws))
    assert envinit.new_secret() == "pmkdv-ECv35B1W73B5XvJKuSvwGXFzgFaxUjkocnbNY"


def test_write_creates_the_file_owner_only(tmp_path):
    path = tmp_path / "env" / "prod.local.env"
    envinit.write(path, "A=1\n", force=False)
    assert path.read_text() == "A=1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["prod.local.env"]  # no temporary file left


def test_write_refuses_to_replace_without_force(tmp_path):
    path = tmp_path / "prod.local.env"
    path.write_text("KEEP=me\n")
    with pytest.raises(StackyardError) as info:
        envinit.write(path, "A=1\n", force=False)
    assert "--force" in str(info.value)
    assert path.read_text() == "KEEP=me\n"


def test_write_replaces_with_force(tmp_path):
    path = tmp_path / "prod.local.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    envinit.write(path, "NEW=1\n", force=True)
    assert path.read_text() == "NEW=1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
