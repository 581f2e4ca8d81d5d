"""layers: the four env files in order (a personal local file above every
committed one), the later file winning, the process environment on top, and
where each value came from."""

from __future__ import annotations

import pathlib

from stackyard import config
from stackyard.config import Layer, layer_files
from stackyard.env.file import parse_text
from stackyard.env.layers import PROCESS, effective, resolve


def fake_layer(label: str, local: bool = False) -> Layer:
    return Layer(pathlib.Path("/nowhere") / label, label, local)


def parsed(*files: tuple[str, str]):
    """(label, text) pairs as resolve() takes them, without touching the disk."""
    return [(fake_layer(label), parse_text(text, label)) for label, text in files]


# --- layer_files ---------------------------------------------------------------


def test_layer_files_order_and_which_are_local(tmp_path):
    env_dir = tmp_path / "env"
    got = [(lay.label, lay.local) for lay in layer_files(env_dir, "prod", tmp_path)]
    # Committed files first; then the personal local file, then the environment's own.
    assert got == [
        ("env/base.env", False),
        ("env/prod.env", False),
        ("env/local.env", True),
        ("env/prod.local.env", True),
    ]
    assert [lay.path for lay in layer_files(env_dir, "prod")] == [
        env_dir / "base.env",
        env_dir / "prod.env",
        env_dir / "local.env",
        env_dir / "prod.local.env",
    ]


def test_every_local_file_comes_after_every_committed_file(tmp_path):
    locals_ = [lay.local for lay in layer_files(tmp_path, "dev")]
    assert locals_ == sorted(locals_)  # False (committed) ... then True (local)


def test_labels_are_full_paths_without_a_root(tmp_path):
    assert layer_files(tmp_path, "dev")[1].label == str(tmp_path / "dev.env")


# --- resolve -------------------------------------------------------------------


def test_a_later_file_wins_and_records_what_it_overrode():
    got = resolve(
        parsed(
            ("env/base.env", "LOG_LEVEL=info\nAPP=x\n"),
            ("env/dev.env", "\nLOG_LEVEL=debug\n"),
            ("env/dev.local.env", "LOG_LEVEL=warning\n"),
        ),
        environ={},
    )
    level = got["LOG_LEVEL"]
    assert (level.value, level.source, level.layer) == ("warning", "env/dev.local.env:1", "env/dev.local.env")
    assert level.overridden == [("env/base.env:1", "info"), ("env/dev.env:2", "debug")]
    assert (got["APP"].source, got["APP"].overridden) == ("env/base.env:2", [])


def test_the_process_environment_wins_over_every_file():
    got = resolve(parsed(("env/base.env", "PORT=1\n"), ("env/dev.env", "PORT=2\n")), environ={"PORT": "3"})
    port = got["PORT"]
    assert (port.value, port.source, port.layer) == ("3", PROCESS, PROCESS)
    assert port.overridden == [("env/base.env:1", "1"), ("env/dev.env:1", "2")]


def test_the_process_environment_only_counts_for_known_keys():
    got = resolve(parsed(("env/dev.env", "A=1\n")), environ={"HOME": "/root", "S": "from-shell"}, keys=["S"])
    assert set(got) == {"A", "S"}
    assert (got["S"].value, got["S"].source, got["S"].overridden) == ("from-shell", PROCESS, [])


def test_schema_keys_set_nowhere_are_unset():
    got = resolve(parsed(("env/dev.env", "A=1\n")), environ={}, keys=["A", "MISSING"])
    missing = got["MISSING"]
    assert (missing.value, missing.source, missing.layer, missing.overridden) == (None, "-", "", [])
    assert list(got) == ["A", "MISSING"]


def test_a_bare_key_takes_nothing_from_the_files():
    files = parsed(("env/base.env", "A=from-base\n"), ("env/dev.env", "A\nB\n"))
    got = resolve(files, environ={})
    # The bare A neither clears nor overrides base.env's value.
    assert (got["A"].value, got["A"].source) == ("from-base", "env/base.env:1")
    assert (got["B"].value, got["B"].source) == (None, "-")
    shell = resolve(files, environ={"B": "shell"})["B"]
    assert (shell.value, shell.source, shell.overridden) == ("shell", PROCESS, [])


def test_interpolation_sees_earlier_files_and_the_process_environment():
    got = resolve(
        parsed(
            ("env/base.env", "USER_=app\nHOST=db\n"),
            ("env/dev.env", "URL=\"pg://${USER_}@${HOST}:${PORT:-5432}/$DB\"\nRAW=$USER_/$$x\nLIT='${USER_}'\n"),
        ),
        environ={"DB": "shop", "HOST": "override"},
    )
    assert got["URL"].value == "pg://app@override:5432/shop"
    assert got["RAW"].value == "app/$x"
    assert got["LIT"].value == "${USER_}"  # single quotes: literal


def test_interpolation_does_not_see_later_files():
    got = resolve(parsed(("env/base.env", "A=${B:-none}\n"), ("env/dev.env", "B=later\n")), environ={})
    assert got["A"].value == "none"


def test_an_overridden_value_is_recorded_interpolated():
    got = resolve(parsed(("env/base.env", "X=1\nA=${X}\n"), ("env/dev.env", "A=2\n")), environ={})
    assert got["A"].overridden == [("env/base.env:2", "1")]


# --- config.env_files ------------------------------------------------------------


def test_a_personal_override_in_local_env_beats_the_committed_env_file(tmp_path):
    root = tmp_path
    (root / "env").mkdir()
    (root / "env" / "base.env").write_text("LOG_LEVEL=info\n")
    (root / "env" / "dev.env").write_text("LOG_LEVEL=debug\nAPI_PORT=8000\n")
    (root / "env" / "local.env").write_text("API_PORT=18000\nLOG_LEVEL=warning\n")
    (root / "env" / "dev.local.env").write_text("LOG_LEVEL=error\n")
    got = effective(root, root / "env", "dev", [], environ={})
    assert (got["API_PORT"].value, got["API_PORT"].source) == ("18000", "env/local.env:1")
    assert got["API_PORT"].overridden == [("env/dev.env:2", "8000")]
    # The environment's own local file is more specific than the general one: it wins over it.
    assert (got["LOG_LEVEL"].value, got["LOG_LEVEL"].source) == ("error", "env/dev.local.env:1")
    assert [where for where, _ in got["LOG_LEVEL"].overridden] == ["env/base.env:1", "env/dev.env:1", "env/local.env:2"]


def test_env_files_lists_the_existing_files_in_order(tmp_path):
    assert config.env_files(tmp_path, "dev") == ()
    for name in ("dev.local.env", "base.env", "prod.env", "local.env", "dev.env"):
        (tmp_path / name).write_text("")
    assert [p.name for p in config.env_files(tmp_path, "dev")] == [
        "base.env",
        "dev.env",
        "local.env",
        "dev.local.env",
    ]
    (tmp_path / "local.env").unlink()
    assert [p.name for p in config.env_files(tmp_path, "prod")] == ["base.env", "prod.env"]
