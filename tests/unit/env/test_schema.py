"""envschema: .env.example's comments describe each variable; [secret] and
[required] in the comment block directly above it mark it."""

from __future__ import annotations

from stackyard.env import schema as envschema
from tests.unit.fakes import ROOT

EXAMPLE = """\
# --- database (a section header, not a description)

# [secret] [required] Password of the
# database user.
DB_PASSWORD=
# [required] Name of the database.
DB_NAME=app
# Plain setting.
PORT=8000
#   [secret]   Token, tags in the middle [required] too.
TOKEN=
UNDESCRIBED=x
"""


def test_tags_mark_secret_and_required():
    schema = envschema.parse_text(EXAMPLE)
    flags = {name: (v.secret, v.required) for name, v in schema.items()}
    assert flags == {
        "DB_PASSWORD": (True, True),
        "DB_NAME": (False, True),
        "PORT": (False, False),
        "TOKEN": (True, True),
        "UNDESCRIBED": (False, False),
    }


def test_descriptions_join_the_comment_block_without_the_tags():
    schema = envschema.parse_text(EXAMPLE)
    assert schema["DB_PASSWORD"].description == "Password of the database user."
    assert schema["DB_NAME"].description == "Name of the database."
    assert schema["TOKEN"].description == "Token, tags in the middle too."
    assert schema["UNDESCRIBED"].description == ""


def test_a_header_separated_by_a_blank_line_is_not_part_of_the_description():
    schema = envschema.parse_text("# [secret] [required] --- a section\n\nFIRST=\n")
    first = schema["FIRST"]
    assert (first.description, first.secret, first.required) == ("", False, False)


def test_example_value_and_line():
    schema = envschema.parse_text(EXAMPLE)
    assert (schema["PORT"].example, schema["PORT"].line) == ("8000", 9)
    assert (schema["DB_PASSWORD"].example, schema["DB_PASSWORD"].line) == ("", 5)


def test_load_without_an_example_file_is_empty(tmp_path):
    assert envschema.load(tmp_path) == {}


def test_the_repository_example():
    schema = envschema.load(ROOT)
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert schema[name].secret and schema[name].required, name
    assert not schema["API_PORT"].secret and not schema["API_PORT"].required
    assert [name for name, v in schema.items() if not v.description] == []
    assert {name for name, v in schema.items() if v.secret} == {
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    }
