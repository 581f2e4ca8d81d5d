"""`inv prod-deploy` and `inv rollback`, the plan: what will happen, in order,
with the reason for each step. Pure: `--dry-run` prints it; deploy_run.py
executes it and decides nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

HEALTH_TIMEOUT = 120


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    why: str


@dataclass(frozen=True)
class Plan:
    kind: str  # deploy, rollback
    env_name: str
    project: str
    release: str
    previous: str | None  # the release serving now (None: nothing runs yet)
    first: bool  # no api container runs: start the whole stack
    steps: tuple[Step, ...] = field(default=())

    def text(self) -> str:
        head = f"{self.kind} {self.release} to {self.env_name} (project {self.project})"
        head += f", replacing {self.previous}" if self.previous else ""
        lines = [head + ":"]
        for i, s in enumerate(self.steps, 1):
            lines.append(f"  {i:>2}. {s.name:<9} {s.what}")
            lines.append(f"      {'':<9} why: {s.why}")
        if self.kind == "deploy":
            lines.append(
                "  on a failure after the backup: traffic stays on (or returns to) "
                f"{self.previous or 'nothing'}, the new containers are removed, their last log lines "
                "are printed, the release is recorded as failed, exit 1"
            )
        return "\n".join(lines)


def make(
    kind: str,
    env_name: str,
    project: str,
    release: str,
    previous: str | None,
    first: bool,
    allow_dirty: bool = False,
    health_timeout: int = HEALTH_TIMEOUT,
) -> Plan:
    steps: list[Step] = []
    if kind == "deploy":
        steps.append(
            Step(
                "preflight",
                "env.check (strict), the prod security rules, a clean git tree"
                + (" (skipped: --allow-dirty)" if allow_dirty else "")
                + ", the target engine reachable",
                "any problem stops the deploy before anything changes",
            )
        )
    steps.append(
        Step(
            "lock",
            f"create container {project}-deploy-lock on the target engine",
            "two deploys to one host exclude each other, from any machine",
        )
    )
    if kind == "deploy":
        steps.append(
            Step(
                "build",
                f"build the images, tagged {release}",
                "rollback needs the old images: the last 5 releases are kept",
            )
        )
        if not first:
            steps.append(
                Step(
                    "backup",
                    f"pg_dump (custom format) to backups/{project}/{release}.dump, checked with pg_restore --list",
                    "the migrations may change data; no backup, no deploy",
                )
            )
        if not first:
            steps.append(
                Step(
                    "migrate",
                    f"run migrate once with {release}",
                    "migrations must be backward compatible: the old API still serves meanwhile",
                )
            )
    if first:
        steps.append(
            Step(
                "start",
                f"up --wait the whole stack with {release} (migrate runs first: the app services depend on it)",
                "nothing runs yet",
            )
        )
    else:
        steps += [
            Step(
                "api",
                f"start an api container with {release} beside the one with {previous}; wait until "
                f"healthy ({health_timeout} s at most)",
                "the new version gets no traffic before it is healthy",
            ),
            Step(
                "switch",
                "reload Caddy with the new container as its upstream",
                "a graceful reload: requests in flight finish on the old one",
            ),
            Step(
                "workers",
                f"recreate worker and listener with {release}; wait until healthy",
                "after the API, so jobs it enqueues find a worker; a worker finishes its task on SIGTERM",
            ),
            Step("retire", f"stop the old api container ({previous}) and remove it", "it has no traffic left"),
        ]
    steps.append(
        Step(
            "record",
            f"append {release} to the release history"
            + ("; remove images older than the last 5 releases" if kind == "deploy" else ""),
            "inv releases shows it",
        )
    )
    steps.append(Step("unlock", "remove the lock container", "the next deploy may go"))
    return Plan(kind, env_name, project, release, previous, first, tuple(steps))
