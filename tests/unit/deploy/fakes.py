"""A fake target engine for the deploy's unit tests: a small stand-in for the part
of the docker SDK's client that engine/api.py uses, and a runner whose compose
and docker commands change it as the real ones change a real engine."""

from __future__ import annotations

import io
import json
import pathlib
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import SimpleNamespace

import docker.errors

from stackyard.config import Database, Proxy, Roles, Web
from stackyard.core.command import Command
from stackyard.core.runner import Result
from stackyard.deploy import lock as deploy_lock
from stackyard.deploy import plan as deploy
from tests.unit.fakes import FakeRunner, after_base

PROJECT = "shop-prod"
REPOSITORIES = {"api": "shop-app", "caddy": "shop-caddy"}  # the images the compose files build, by service
DB_IMAGE = "postgres:17"
# The fake stack's roles, as its pyproject states them and as the plan gets them.
STATED_ROLES = {
    "web": {"service": "api", "port": 8000},
    "proxy": {"service": "caddy", "kind": "caddy"},
    "database": {"service": "db", "kind": "postgres"},
    "migrate": "migrate",
    "workers": ["worker", "listener"],
}
ROLES = Roles(
    Web("api", 8000), Proxy("caddy", "caddy"), Database("db", "postgres"), "migrate", ("worker", "listener"), ()
)
EDGE, BACKEND = f"{PROJECT}_edge", f"{PROJECT}_backend"
#: Each service's networks, as deploy/proxy.service_networks reads them from config_json.
NETWORKS = {"api": (BACKEND, EDGE), "caddy": (EDGE,), "db": (BACKEND,)}


def conflict(what: str) -> docker.errors.APIError:
    response = SimpleNamespace(status_code=409, url=f"http+docker://localhost/{what}", reason="Conflict")
    return docker.errors.APIError("Conflict", response=response, explanation=f"{what} is in use")


class Container:
    def __init__(
        self,
        name: str,
        service: str,
        image: str,
        *,
        status: str = "running",
        health: Sequence[str] = ("healthy",),
        labels: dict[str, str] | None = None,
        logs: str = "",
        exit_code: int = 0,
        networks: Sequence[str] | None = None,
    ):
        self.name, self.service, self.image, self.status = name, service, image, status
        self.networks = set(NETWORKS.get(service, ()) if networks is None else networks)
        self.exit_code = exit_code
        self.health = list(health)  # one per inspection; the last one stays
        self.labels = dict(labels or {})
        if service:
            self.labels.update(
                {
                    "com.docker.compose.project": PROJECT,
                    "com.docker.compose.service": service,
                    "com.docker.compose.oneoff": "False",
                }
            )
        self.logs = logs

    def row(self) -> dict:
        """As /containers/json lists it."""
        status = f"Exited ({self.exit_code}) 2 seconds ago" if self.status == "exited" else "Up 2 seconds"
        return {
            "Names": [f"/{self.name}"],
            "Image": self.image,
            "State": self.status,
            "Status": status,
            "Labels": self.labels,
        }

    def inspect(self) -> dict:
        """As /containers/{id}/json shows it."""
        health = self.health.pop(0) if len(self.health) > 1 else self.health[0]
        found = {"Status": self.status} | ({"Health": {"Status": health}} if health else {})
        return {
            "Name": f"/{self.name}",
            "State": found,
            "Config": {"Image": self.image, "Labels": self.labels},
            "NetworkSettings": {"Networks": {n: {} for n in sorted(self.networks)}},
        }


class Containers:
    def __init__(self, engine: FakeClient):
        self.engine = engine

    def list(self, all: bool = False, filters: dict | None = None, sparse: bool = False):
        assert sparse, "a list without sparse=True inspects every container: one request each"
        wanted = [tuple(f.split("=", 1)) for f in (filters or {}).get("label", [])]
        return [
            SimpleNamespace(attrs=c.row())
            for c in self.engine.store.values()
            if (all or c.status == "running") and all_match(c.labels, wanted)
        ]

    def get(self, name: str):
        if name not in self.engine.store:
            raise docker.errors.NotFound(f"No such container: {name}")
        c = self.engine.store[name]
        return SimpleNamespace(
            attrs=c.inspect(),
            logs=lambda tail: "".join(c.logs.splitlines(keepends=True)[-tail:]).encode(),
            remove=lambda force=False, v=False: self.engine.remove(name),
        )

    def create(self, image: str, command: list[str], name: str, labels: dict[str, str], volumes: dict | None = None):
        if name in self.engine.store:
            raise conflict(name)
        if image not in self.engine.images.refs:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        if volumes:  # a holder of the state kept on the engine (engine/kept.py): not logged, gone at once
            ((volume, mount),) = volumes.items()
            files = self.engine.volumes.files.setdefault(volume, {})
            if volume not in self.engine.volumes.store:
                self.engine.volumes.store[volume] = {}
            return Holder(files, mount["bind"])
        self.engine.store[name] = Container(name, "", image, status="created", labels=labels)
        self.engine.log.append(("create", name))
        self.engine.created.append(self.engine.store[name])
        return None


class Holder:
    """A container mounting one volume, for its archive endpoints: {path in the volume: bytes}."""

    def __init__(self, files: dict[str, bytes], mount: str):
        self.files, self.mount = files, mount

    def put_archive(self, path: str, data) -> bool:
        assert path == self.mount
        raw = data if isinstance(data, bytes) else b"".join(data)
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for member in tar:
                got = tar.extractfile(member) if member.isfile() else None
                if got is not None:
                    self.files[member.name] = got.read()
        return True

    def get_archive(self, path: str):
        inner = path.removeprefix(self.mount + "/")
        found = {k: v for k, v in self.files.items() if k == inner or k.startswith(inner + "/")}
        if not found:
            raise docker.errors.NotFound(f"Could not find the file {path} in container")
        out = io.BytesIO()
        base = inner.rsplit("/", 1)[0] + "/" if "/" in inner else ""
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, data in sorted(found.items()):
                info = tarfile.TarInfo(name.removeprefix(base))
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return iter([out.getvalue()]), {"name": inner.rsplit("/", 1)[-1]}

    def remove(self, force: bool = False) -> None:
        pass


class Images:
    def __init__(self, engine: FakeClient):
        self.engine = engine
        self.refs: set[str] = {DB_IMAGE, deploy_lock.IMAGE}
        self.in_use: set[str] = set()

    def get(self, ref: str):
        if ref not in self.refs:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return SimpleNamespace(tags=[ref])

    def remove(self, ref: str):
        if ref in self.in_use:
            raise conflict(ref)
        self.refs.remove(ref)
        self.engine.log.append(("remove image", ref))

    def pull(self, ref: str):
        self.refs.add(ref)
        self.engine.log.append(("pull", ref))


class Volumes:
    """Named volumes: {name: labels}; the files of those stackyard keeps its state in."""

    def __init__(self):
        self.store: dict[str, dict[str, str]] = {}
        self.files: dict[str, dict[str, bytes]] = {}

    def create(self, name: str, labels: dict[str, str]):
        self.store[name] = dict(labels)
        self.files.setdefault(name, {})

    def add(self, name: str, compose_name: str | None = None) -> None:
        """A volume Compose made for the project (`compose_name`: its name in the compose file), or an external one."""
        labels = (
            {"com.docker.compose.project": PROJECT, "com.docker.compose.volume": compose_name} if compose_name else {}
        )
        self.store[name] = labels

    def list(self, filters: dict | None = None):
        wanted = [tuple(f.split("=", 1)) for f in (filters or {}).get("label", [])]
        return [
            SimpleNamespace(name=n, attrs={"Name": n, "Labels": labels})
            for n, labels in self.store.items()
            if all_match(labels, wanted)
        ]

    def get(self, name: str):
        if name not in self.store:
            raise docker.errors.NotFound(f"get {name}: no such volume")
        return SimpleNamespace(
            name=name, attrs={"Name": name, "Labels": self.store[name]}, remove=lambda: self.remove(name)
        )

    def remove(self, name: str) -> None:
        del self.store[name]
        self.files.pop(name, None)


class FakeClient:
    """The containers, images and volumes of one engine, and a log of what was changed through the SDK."""

    def __init__(self):
        self.store: dict[str, Container] = {}
        self.log: list[tuple[str, str]] = []
        self.created: list[Container] = []  # by containers.create, even once removed
        self.containers = Containers(self)
        self.images = Images(self)
        self.volumes = Volumes()
        self.api = SimpleNamespace(images=self.image_rows, load_image=self.load_image)

    def image_rows(self, name: str) -> list[dict]:
        """As /images/json lists them (one tag an image, here)."""
        return [{"RepoTags": [r]} for r in sorted(self.images.refs) if r.rsplit(":", 1)[0] == name]

    def load_image(self, chunks: Iterable[bytes]) -> Iterator[dict]:
        """`docker load`: the tar's manifest names the image."""
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            manifest = tar.extractfile("manifest.json")
            assert manifest is not None
            (ref,) = json.load(manifest)[0]["RepoTags"]
        self.images.refs.add(ref)
        self.log.append(("load", ref))
        yield {"stream": f"Loaded image: {ref}\n"}

    def add(self, container: Container) -> None:
        self.store[container.name] = container

    def remove(self, name: str) -> None:
        del self.store[name]
        self.log.append(("remove", name))

    def service(self, service: str) -> list[Container]:
        return [c for c in self.store.values() if c.service == service]


def all_match(labels: dict[str, str], wanted: list[tuple[str, ...]]) -> bool:
    return all(labels.get(k) == v for k, v in wanted)


def config_json(tag: str) -> str:
    """`docker compose config --format json` of the stack, images tagged `tag` (APP_TAG)."""
    services: dict[str, dict] = {s: {"image": f"{r}:{tag}", "build": {"context": "."}} for s, r in REPOSITORIES.items()}
    db_data = {"type": "volume", "source": "db-data", "target": "/var/lib/postgresql/data"}
    services |= {"db": {"image": DB_IMAGE, "volumes": [db_data]}} | {
        s: {"image": f"shop-app:{tag}"} for s in ("migrate", "worker", "listener")
    }
    for service, networks in (("api", ("edge", "backend")), ("caddy", ("edge",)), ("db", ("backend",))):
        services[service]["networks"] = dict.fromkeys(networks)
    declared = {"edge": {"name": EDGE}, "backend": {"name": BACKEND}}
    volumes = {"db-data": {"name": f"{PROJECT}_db-data"}}
    return json.dumps({"name": PROJECT, "services": services, "volumes": volumes, "networks": declared})


class EngineRunner(FakeRunner):
    """Answers compose and docker commands by changing the fake engine like the real
    ones would; `fail` may answer a command with a failure instead."""

    def __init__(
        self,
        engine: FakeClient,
        *,
        new_health: Sequence[str] = ("starting", "healthy"),
        new_logs: str = "",
        fail: Callable[[Command], Result | None] = lambda cmd: None,
        responses: dict[str, Result] | None = None,
    ):
        super().__init__(responses)
        self.engine, self.new_health, self.new_logs, self.fail = engine, new_health, new_logs, fail
        self.readonly: list[bool] = []
        self.file_timeouts: list[float | None] = []  # of run_files: a backup's commands

    def run(self, cmd: Command, mode="capture", check: bool = True, quiet: bool = False, **kw) -> Result:
        self.readonly.append(bool(kw.get("readonly")))
        return super().run(cmd, mode=mode, check=check, quiet=quiet)

    def run_files(self, cmd, *, stdin_path=None, stdout_path=None, check=True, readonly=False, timeout=None) -> Result:
        self.commands.append(cmd)
        self.file_timeouts.append(timeout)
        self.modes.append("files")
        self.readonly.append(readonly)
        if stdout_path:
            pathlib.Path(stdout_path).write_bytes(b"PGDMP")
            return Result(0)
        return Result(0, "; Archive\n;     Format: CUSTOM\n1; 2615 2200 SCHEMA - public\n")

    def changed(self) -> list[Command]:
        """The commands that change something (not the reads)."""
        return [c for c, ro in zip(self.commands, self.readonly, strict=True) if not ro]

    def changes(self) -> list[tuple[str, ...]]:
        """The commands that change something, compose ones from their subcommand on."""
        return [short(c) for c in self.changed()]

    def answer(self, cmd: Command) -> Result:
        failed = self.fail(cmd)
        if failed is not None:
            return failed
        tag = cmd.env.get("APP_TAG", "latest")
        words = short(cmd)
        if cmd.argv[:2] == ("docker", "compose") and words[:1] == ("config",) and "json" in words:
            return Result(0, config_json(tag))
        if words[:1] == ("build",):
            self.engine.images.refs |= {f"{r}:{tag}" for r in REPOSITORIES.values()}
        elif "--scale" in words:
            service, count = words[words.index("--scale") + 1].split("=")
            name = f"{PROJECT}-{service}-{count}"
            created = self.engine.store.get(name)
            if created is not None and created.status == "created" and "--detach" in words:
                created.status = "running"  # the one created before: started as it is, its networks kept
            else:
                assert int(count) == len(self.engine.service(service)) + 1
                status = "created" if "--no-start" in words else "running"
                new = Container(name, service, f"shop-app:{tag}", status=status, health=self.new_health)
                new.logs = self.new_logs
                self.engine.add(new)
        elif words[:1] == ("up",):
            # Named services, or the stack (the ones the fake models); each one's containers
            # brought to one running container with the release's image, as Compose recreates them.
            for service in [w for w in words if w in ("api", "worker", "listener", "db")] or ["api", "worker", "db"]:
                image = DB_IMAGE if service == "db" else f"shop-app:{tag}"
                found = sorted(self.engine.service(service), key=lambda c: c.name)
                for extra in found[:-1]:
                    self.engine.remove(extra.name)
                kept = found[-1] if found else Container(f"{PROJECT}-{service}-1", service, image)
                kept.image, kept.status, kept.health = image, "running", ["healthy"]
                self.engine.add(kept)
        elif cmd.argv[:3] == ("docker", "network", "connect"):
            self.engine.store[cmd.argv[-1]].networks.add(cmd.argv[-2])
        elif cmd.argv[:3] == ("docker", "network", "disconnect"):
            self.engine.store[cmd.argv[-1]].networks.remove(cmd.argv[-2])
        elif cmd.argv[:2] == ("docker", "stop"):
            self.engine.store[cmd.argv[-1]].status = "exited"
        elif cmd.argv[:2] == ("docker", "rm"):
            self.engine.remove(cmd.argv[-1])
        return super().answer(cmd)


def short(cmd: Command) -> tuple[str, ...]:
    return after_base(cmd.argv) if cmd.argv[:2] == ("docker", "compose") else cmd.argv


def make(kind, env, release, previous, running, roles, **options) -> deploy.Plan:
    """deploy.make with the networks the compose files would give the roles' services:
    the web one on a backend network and on the network it shares with the proxy."""
    networks = {}
    if roles.web:
        networks[roles.web.service] = (BACKEND, EDGE)
    if roles.proxy:
        networks[roles.proxy.service] = (EDGE,)
    return deploy.make(kind, env, release, previous, running, roles, networks=networks, **options)
