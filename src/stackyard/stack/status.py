"""`inv ps`: what runs, its health and where it answers. Kept apart from the
operations that change things, so that a status read imports little."""

from __future__ import annotations

import json
from collections.abc import Sequence

from stackyard.core import table
from stackyard.engine import state
from stackyard.session import Session


def entry_url(s: Session, containers: Sequence[state.Container]) -> str | None:
    """The app's URL: configured, else the entry service's (or the first) HTTP port."""
    if s.env.url:
        return s.env.url.rstrip("/")
    ports = [p for c in containers for p in c.ports if p.url().startswith("http")]
    if s.env.entry:
        ports = [p for p in ports if p.service == s.env.entry] or ports
    return ports[0].url() if ports else None


def status_rows(containers: Sequence[state.Container]) -> list[list[str]]:
    rows = []
    for c in containers:
        st = c.state + (f" ({c.exit_code})" if c.state == "exited" else "")
        urls = " ".join(p.url() for p in c.ports) or "-"
        rows.append([c.service, st, c.health or "-", urls])
    return rows


def print_status(s: Session, containers: Sequence[state.Container]) -> None:
    if not containers:
        s.print(f"no containers in project {s.env.project} ({s.env.name}); start it with `inv up --env {s.env.name}`")
        return
    s.print(table.render(["SERVICE", "STATE", "HEALTH", "PUBLISHED"], status_rows(containers)))
    url = entry_url(s, containers)
    if url:
        s.print(f"\n{s.env.name} is up: {url}  (health: {url}{s.env.health_path})")


def ps(s: Session, *, as_json: bool = False) -> None:
    containers = s.containers()
    if as_json:
        s.print(json.dumps([container_dict(c) for c in containers], indent=2))
    else:
        print_status(s, containers)


def container_dict(c: state.Container) -> dict:
    return {
        "service": c.service,
        "name": c.name,
        "state": c.state,
        "health": c.health,
        "exit_code": c.exit_code,
        "urls": [p.url() for p in c.ports],
    }
