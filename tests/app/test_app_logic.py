"""Unit tests of the reference app's own logic: no broker, database or network."""

from __future__ import annotations

import json
import os

import pytest
from refapp import cache, jobs, liveness, readiness
from refapp.settings import Settings, database_url, read_secret, sqlalchemy_url, with_password


class FakeStore:
    def __init__(self):
        self.data: dict[str, str] = {}
        self.ttls: dict[str, int | None] = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, ex=None):
        self.data[key] = value
        self.ttls[key] = ex

    def delete(self, *keys):
        return sum(self.data.pop(k, None) is not None for k in keys)


def test_read_through_miss_loads_and_fills_then_hits():
    store, calls = FakeStore(), []

    def load(key):
        calls.append(key)
        return {"key": key, "value": "v"}

    assert cache.read_through(store, "a", load, ttl=60) == ({"key": "a", "value": "v"}, False)
    assert cache.read_through(store, "a", load, ttl=60) == ({"key": "a", "value": "v"}, True)
    assert calls == ["a"]
    assert store.ttls["item:a"] == 60


def test_read_through_does_not_cache_a_missing_item():
    store = FakeStore()
    assert cache.read_through(store, "nope", lambda k: None, ttl=60) == (None, False)
    assert store.data == {}


def test_invalidate_drops_the_key_named_by_the_payload():
    store = FakeStore()
    store.set("item:a", json.dumps({"value": 1}))
    assert cache.invalidate(store, "a") == "item:a"
    assert store.get("item:a") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "non-empty list"),
        ({"numbers": []}, "non-empty list"),
        ({"numbers": [1, "x"]}, "only numbers"),
        ({"numbers": [True]}, "only numbers"),
        ({"numbers": [1], "delay": -1}, "between 0 and 30"),
        ({"numbers": [1], "delay": 31}, "between 0 and 30"),
    ],
)
def test_validate_rejects_bad_jobs(body, message):
    with pytest.raises(jobs.InvalidJob, match=message):
        jobs.validate(body)


def test_validate_and_compute():
    payload = jobs.validate({"numbers": [1, 2, 3.5], "delay": 0})
    assert payload == {"numbers": [1, 2, 3.5], "delay": 0.0}
    assert jobs.compute(payload) == {"count": 3, "sum": 6.5, "mean": 6.5 / 3}


def test_readiness_names_every_failed_check_without_its_message():
    def broken():
        raise ConnectionError("redis://:s3cret@redis:6379 refused")

    ok, results = readiness.run_checks({"postgres": lambda: None, "redis": broken, "broker": broken})
    assert not ok
    assert results == {"postgres": "ok", "redis": "failed: ConnectionError", "broker": "failed: ConnectionError"}
    assert "s3cret" not in json.dumps(results)


def test_liveness_file_age(tmp_path):
    f = tmp_path / "alive"
    assert not liveness.is_alive(str(f), 20)
    f.touch()
    mtime = os.stat(f).st_mtime
    assert liveness.is_alive(str(f), 20, now=mtime + 19)
    assert not liveness.is_alive(str(f), 20, now=mtime + 21)
    assert liveness.main([str(f), "1e9"]) == 0
    assert liveness.main([str(tmp_path / "missing")]) == 1


def test_settings_from_env_defaults_and_missing():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u:p@db/app", "REDIS_URL": "redis://r/0"})
    assert (s.broker_url, s.result_backend, s.visibility_timeout) == ("redis://r/0", "redis://r/0", 30)
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        Settings.from_env({"REDIS_URL": "redis://r/0"})


def test_sqlalchemy_url_names_the_driver():
    assert sqlalchemy_url("postgresql://u:p@db:5432/app") == "postgresql+psycopg://u:p@db:5432/app"
    assert sqlalchemy_url("postgres://u@db/app") == "postgresql+psycopg://u@db/app"
    assert sqlalchemy_url("sqlite://") == "sqlite://"


# --- secrets from files: URLs without passwords, *_PASSWORD_FILE naming the files ---


def secret_file(tmp_path, name: str, value: str):
    path = tmp_path / name
    path.write_text(value + "\n")  # `echo` and editors end files with a newline: not part of the password
    return str(path)


def test_settings_put_the_passwords_of_the_files_into_every_url(tmp_path):
    env = {
        "DATABASE_URL": "postgresql://app@db:5432/app",
        "POSTGRES_PASSWORD_FILE": secret_file(tmp_path, "pg", "pg-secret"),
        "REDIS_URL": "redis://redis:6379/0",
        "JOB_QUEUE_URL": "redis://redis:6379/1",
        "JOB_RESULTS_URL": "redis://redis:6379/2",
        "REDIS_PASSWORD_FILE": secret_file(tmp_path, "redis", "r-secret"),
    }
    s = Settings.from_env(env)
    assert s.database_url == "postgresql://app:pg-secret@db:5432/app"
    assert (s.redis_url, s.broker_url, s.result_backend) == (
        "redis://:r-secret@redis:6379/0",
        "redis://:r-secret@redis:6379/1",
        "redis://:r-secret@redis:6379/2",
    )
    assert database_url(env) == s.database_url  # what the migrations connect with
    assert "secret" not in repr(s)  # a logged Settings shows no password


def test_a_password_is_percent_encoded_and_replaces_one_in_the_url():
    assert with_password("postgresql://app:old@db:5432/app?sslmode=disable", "p@ss/w:rd") == (
        "postgresql://app:p%40ss%2Fw%3Ard@db:5432/app?sslmode=disable"
    )
    assert with_password("postgresql://u@h1:5432,h2:5433/db", "pw") == "postgresql://u:pw@h1:5432,h2:5433/db"
    assert with_password("redis://:inline@redis:6379/0", None) == "redis://:inline@redis:6379/0"


def test_without_a_password_file_the_urls_are_used_as_given():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u:p@db/app", "REDIS_URL": "redis://:r@redis/0"})
    assert (s.database_url, s.broker_url) == ("postgresql://u:p@db/app", "redis://:r@redis/0")


def test_an_unreadable_password_file_names_the_variable_and_the_file(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(RuntimeError, match=r"^POSTGRES_PASSWORD_FILE=.*/nope: cannot read the secret \(No such file"):
        database_url({"DATABASE_URL": "postgresql://app@db/app", "POSTGRES_PASSWORD_FILE": missing})
    assert read_secret({}, "REDIS_PASSWORD_FILE") is None
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        database_url({})


def test_health_fails_while_the_unhealthy_marker_exists(tmp_path, monkeypatch):
    api = pytest.importorskip("refapp.api")  # fastapi: installed where the app's tests run
    marker = tmp_path / "unhealthy"
    monkeypatch.setattr(api, "UNHEALTHY_FILE", str(marker))
    assert api.health() == {"status": "ok"}
    marker.touch()
    found = api.health()
    assert found.status_code == 503 and json.loads(found.body)["status"] == "unhealthy"
