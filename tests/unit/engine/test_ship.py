"""engine/ship.py on two fake engines: which images go (compared by image ID), the
stream from one engine's save into the other's load, the check of the IDs after,
the progress lines (at most one a second, on a fake clock) and the deadline."""

from __future__ import annotations

from types import SimpleNamespace

import docker.errors
import pytest

from stackyard.engine import ship
from stackyard.errors import StackyardError

A, B, C = ("sha256:" + c * 64 for c in "abc")
MB = 1_000_000


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Engine:
    """The part of a docker SDK client ship.py uses: images by name and ID, save as a
    stream of chunks (each one takes `per_chunk` seconds on the clock), load, tag, pull."""

    def __init__(self, clock: Clock, images: dict[str, str] | None = None, *, chunk: int = 2 * MB, chunks: int = 3):
        self.clock, self.chunk, self.chunks = clock, chunk, chunks
        self.refs = dict(images or {})  # name -> ID
        self.pullable: dict[str, str] = {}  # what a registry would give a pull
        self.loaded: list[str] = []  # the streams loaded, as their first words
        self.per_chunk = 0.4
        self.load_gives: str | None = None  # an ID to load instead of the one sent (a broken engine)
        self.images = SimpleNamespace(get=self.get, pull=self.pull)
        self.api = SimpleNamespace(get_image=self.get_image, load_image=self.load_image, tag=self.tag)

    def get(self, ref: str):
        found = self.refs.get(ref) or (ref if ref in self.refs.values() else None)
        if found is None:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return SimpleNamespace(id=found, attrs={"Id": found, "Size": self.chunk * self.chunks})

    def pull(self, ref: str):
        if ref not in self.pullable:
            raise docker.errors.APIError(f"pull access denied for {ref}")
        self.refs[ref] = self.pullable[ref]

    def get_image(self, ref: str, chunk_size: int):
        head = f"{ref}={self.refs[ref]}".encode()
        for i in range(self.chunks):
            self.clock.now += self.per_chunk
            yield (head if i == 0 else b"").ljust(self.chunk, b".")

    def load_image(self, data):
        stream = b"".join(data)  # all of it, as the engine reads the request's body
        ref, image = stream.split(b".", 1)[0].decode().split("=")
        self.refs[ref] = self.load_gives or image
        self.loaded.append(ref)
        yield {"stream": f"Loaded image: {ref}\n"}

    def tag(self, image: str, repository: str, tag: str):
        self.refs[f"{repository}:{tag}"] = image


@pytest.fixture
def clock():
    return Clock()


def run(local: Engine, target: Engine, built=(), pulled=(), until: float = 10_000):
    """ship.look then ship.ship, with every change echoed as the deploy echoes them; (echoed, said, done)."""
    echoed: list[str] = []
    said: list[str] = []

    def change(what, do):
        echoed.append(what)
        return do()

    images = ship.look(local, target, built, pulled)
    done = ship.ship(local, target, images, change=change, say=said.append, clock=local.clock, until=until)
    return echoed, said, done


# --- the decision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "need"),
    [
        (ship.Image("app:r2", True, local=A), ship.SEND),  # the target lacks it
        (ship.Image("db:17", False, local=A, target=B), ship.SEND),  # it has another image under that name
        (ship.Image("app:r2", True, local=A, target_has_local=True), ship.TAG),  # a build that changed nothing
        (ship.Image("db:17", False, local=A, target=A), ship.CURRENT),
        (ship.Image("db:17", False, target=B), ship.THEIRS),  # only the target has it
        (ship.Image("db:17", False), ship.PULL),  # neither has it: pulled here first
        (ship.Image("app:r2", True), ship.UNBUILT),  # a plan made before the build
    ],
)
def test_what_an_image_needs_is_decided_by_its_ids_on_both_engines(image, need):
    assert image.need == need


def test_look_reads_both_engines_once_per_image(clock):
    local = Engine(clock, {"app:r2": A, "db:17": B, "cache:8": C})
    target = Engine(clock, {"app:r1": A, "cache:8": C})
    found = ship.look(local, target, ["app:r2"], ["db:17", "cache:8", "app:r2"])  # a built image is no pulled one
    assert [(i.ref, i.built, i.need) for i in found] == [
        ("app:r2", True, ship.TAG),
        ("db:17", False, ship.SEND),
        ("cache:8", False, ship.CURRENT),
    ]
    assert found[1].size == 6 * MB and found[1].line() == "send db:17 (~6.0 MB): the target lacks it"


# --- the ship -------------------------------------------------------------------------


def test_only_what_the_target_lacks_is_sent_and_the_ids_match_after(clock):
    local = Engine(clock, {"app:r2": A, "db:17": B, "cache:8": C})
    target = Engine(clock, {"cache:8": C})
    echoed, said, done = run(local, target, ["app:r2"], ["db:17", "cache:8"])
    assert target.loaded == ["app:r2", "db:17"]  # one stream each
    assert echoed == [
        "load app:r2 into the target's engine, streamed from this machine's (~6.0 MB)",
        "load db:17 into the target's engine, streamed from this machine's (~6.0 MB)",
    ]
    assert {ref: target.refs[ref] for ref in local.refs} == local.refs
    assert [(ref, n) for ref, n, _ in done.sent] == [("app:r2", 6 * MB), ("db:17", 6 * MB)]
    assert done.there == ["cache:8"]
    assert said[-1] == "ship: 2 images sent, 12.0 MB in 2.4 s (5.0 MB/s); 1 already on the target"
    # The second time, nothing goes.
    echoed, said, done = run(local, target, ["app:r2"], ["db:17", "cache:8"])
    assert (echoed, done.sent, target.loaded) == ([], [], ["app:r2", "db:17"])
    assert said[-1] == "ship: nothing sent; 3 already on the target"


def test_another_image_under_the_same_name_on_the_target_is_replaced(clock):
    local, target = Engine(clock, {"db:17": A}), Engine(clock, {"db:17": B})
    run(local, target, (), ["db:17"])
    assert target.refs["db:17"] == A


def test_an_image_the_target_has_under_another_name_is_tagged_not_sent(clock):
    local, target = Engine(clock, {"app:r2": A}), Engine(clock, {"app:r1": A})
    echoed, said, _ = run(local, target, ["app:r2"])
    assert target.loaded == [] and target.refs["app:r2"] == A
    assert echoed == ["tag image aaaaaaaaaaaa as app:r2 (the target's engine)"]
    assert said[-1] == "ship: nothing sent; 1 tagged there (nothing sent)"


def test_a_pulled_image_neither_engine_has_is_pulled_here_first_and_said_so(clock):
    local, target = Engine(clock), Engine(clock)
    local.pullable["db:17"] = B
    echoed, said, _ = run(local, target, (), ["db:17"])
    assert echoed[0] == "pull image db:17 (this machine's engine)"
    assert said[0] == "  db:17: neither engine has it: pulled here first"
    assert target.refs["db:17"] == B


def test_a_pulled_image_only_the_target_has_is_left_alone(clock):
    local, target = Engine(clock), Engine(clock, {"db:17": B})
    echoed, said, _ = run(local, target, (), ["db:17"])
    assert (echoed, local.refs) == ([], {})  # not pulled here to compare: the target's own
    assert said[0] == "  db:17: the target has it, this machine has none: nothing to send"


def test_a_built_image_missing_here_after_the_build_fails_naming_it(clock):
    with pytest.raises(StackyardError, match=r"^image app:r2 is not on this machine's engine after the build"):
        run(Engine(clock), Engine(clock), ["app:r2"])


def test_an_id_that_differs_after_the_load_fails_naming_the_image(clock):
    local, target = Engine(clock, {"db:17": A}), Engine(clock)
    target.load_gives = C
    with pytest.raises(StackyardError) as info:
        run(local, target, (), ["db:17"])
    assert (
        info.value.message == "image db:17 is cccccccccccc on the target after the ship, aaaaaaaaaaaa on this machine"
    )


def test_progress_is_said_at_most_once_a_second(clock):
    local, target = Engine(clock, {"app:r2": A}, chunk=5 * MB, chunks=10), Engine(clock)
    local.per_chunk = 0.4  # 12.5 MB/s
    _, said, _ = run(local, target, ["app:r2"])
    progress = [line for line in said if line.startswith("  app:r2: ")]
    # Chunks at 100.4 (the first: the clock starts there), 100.8, ... 104.0: a line at 101.6, 102.8, 104.0.
    assert progress == [
        "  app:r2: 20.0 MB of ~50.0 MB sent, 12.5 MB/s",
        "  app:r2: 35.0 MB of ~50.0 MB sent, 12.5 MB/s",
        "  app:r2: 50.0 MB of ~50.0 MB sent, 12.5 MB/s",
    ]
    assert said[-2] == "  sent app:r2: 50.0 MB in 4.0 s (12.5 MB/s)"


def test_a_ship_past_its_deadline_stops_and_fails(clock):
    local, target = Engine(clock, {"app:r2": A}, chunks=10), Engine(clock)
    with pytest.raises(StackyardError) as info:
        run(local, target, ["app:r2"], until=clock.now + 1.0)
    assert info.value.message == "shipping app:r2 stopped at its step's deadline, 4.0 MB of ~20.0 MB sent"
    assert "--build-on host" in info.value.hint
    assert target.loaded == [] and "app:r2" not in target.refs  # the load never finished
