"""Images without a registry: the images a release runs go from the local engine
(where the deploy built them) to the target's, and only those the target lacks or
has under another image ID. Each goes as one stream: the local engine's `docker
save` of it, fed as it comes into the target's `docker load`, both through the
Engine API (for an ssh:// target, over the SSH link every other call takes; no
temporary file). Afterwards its ID must be the same on both engines.

`look` reads both engines; `Image.need` decides, from what was read, what each
image needs; `ship` does it, each change through the `change` it is given (which
echoes it), with a progress line at most once a second and a summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stackyard.engine import api
from stackyard.errors import StackyardError

if TYPE_CHECKING:
    from docker import DockerClient

#: Echo a change to an engine (what), then make it (do), returning what `do` returns:
#: deploy/engine_changes.change.
Change = Callable[[str, Callable[[], object]], object]

# What an image needs (Image.need).
SEND = "send"  # the target lacks it, or has another image under its name
TAG = "tag"  # the target has the image (its ID) under another name only: named there, nothing sent
PULL = "pull"  # a pulled image neither engine has: pulled here first, then sent
CURRENT = "current"  # the target has it, with the same ID
THEIRS = "theirs"  # a pulled image only the target has: nothing to send, nothing to compare
UNBUILT = "unbuilt"  # a built image not built yet (the plan is made before the build)

PROGRESS_EVERY = 1.0  # seconds: at most one progress line a second


@dataclass(frozen=True)
class Image:
    """One image the release runs, as both engines have it."""

    ref: str  # repository:tag
    built: bool  # the deploy builds it (tagged with the release); else the stack pulls it
    local: str | None = None  # its ID on the local engine; None: it has none
    target: str | None = None  # the ID of what the target has under `ref`; None: nothing
    #: The target has the local image (its ID) under another name: a build that changed nothing.
    target_has_local: bool = False
    size: int = 0  # bytes, on the local engine: about what a send costs

    @property
    def need(self) -> str:
        if self.local is None:
            if self.built:
                return UNBUILT
            return THEIRS if self.target else PULL
        if self.local == self.target:
            return CURRENT
        return TAG if self.target_has_local else SEND

    def line(self) -> str:
        """What happens to it, in words, as the plan and the step print it."""
        need = self.need
        if need == SEND:
            why = (
                "the target lacks it"
                if self.target is None
                else f"the target's is another image ({short(self.target)})"
            )
            return f"send {self.ref} (~{mb(self.size)}): {why}"
        if need == TAG:
            return f"tag {self.ref} on the target: it has that image ({short(self.local)}) under another name"
        if need == PULL:
            return f"pull {self.ref} here first (neither engine has it), then send it"
        if need == CURRENT:
            return f"{self.ref}: the target has it ({short(self.local)})"
        if need == THEIRS:
            return f"{self.ref}: the target has it, this machine has none: nothing to send"
        return f"{self.ref}: once built, sent unless the target has its image ID"


@dataclass
class Shipped:
    """What a ship did: the images sent (with bytes and seconds), tagged, already there."""

    sent: list[tuple[str, int, float]] = field(default_factory=list)
    tagged: list[str] = field(default_factory=list)
    there: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(n for _, n, _ in self.sent)

    def text(self) -> str:
        there = f"{len(self.there)} already on the target" if self.there else ""
        tagged = f"{len(self.tagged)} tagged there (nothing sent)" if self.tagged else ""
        if not self.sent:
            return "ship: nothing sent" + "".join(f"; {part}" for part in (tagged, there) if part)
        seconds = sum(s for _, _, s in self.sent)
        sent = f"{len(self.sent)} image{'s' if len(self.sent) > 1 else ''} sent, {rate(self.bytes, seconds)}"
        return "ship: " + "; ".join(part for part in (sent, tagged, there) if part)


def look(local: DockerClient, target: DockerClient, built: Sequence[str], pulled: Sequence[str]) -> tuple[Image, ...]:
    """Each image, as both engines have it (reads only: a dry run makes them too)."""
    refs = dict.fromkeys([(ref, True) for ref in built] + [(ref, False) for ref in pulled if ref not in built])
    return tuple(_look_one(local, target, ref, is_built) for ref, is_built in refs)


def _look_one(local: DockerClient, target: DockerClient, ref: str, built: bool) -> Image:
    here, there = api.inspect_image(local, ref), api.inspect_image(target, ref)
    local_id, target_id = (here or {}).get("Id"), (there or {}).get("Id")
    elsewhere = bool(local_id and local_id != target_id and api.inspect_image(target, local_id))
    return Image(ref, built, local_id, target_id, elsewhere, int((here or {}).get("Size") or 0))


def ship(
    local: DockerClient,
    target: DockerClient,
    images: Sequence[Image],
    *,
    change: Change,
    say: Callable[[str], None],
    clock: Callable[[], float],
    until: float,
) -> Shipped:
    """Give the target each image it needs, in order: pull (here), send or tag; then check
    that it has the local image's ID. Past `until` (on `clock`) a send is stopped and fails.
    Not for a dry run: `look` is its part."""
    done = Shipped()
    for image in images:
        if image.need == UNBUILT:
            raise StackyardError(
                f"image {image.ref} is not on this machine's engine after the build",
                "the build tags it there; is the docker CLI's default engine (DOCKER_HOST, the docker context) "
                "another one than this process's?",
            )
        if image.need == PULL:
            say(f"  {image.ref}: neither engine has it: pulled here first")
            change(f"pull image {image.ref} (this machine's engine)", lambda ref=image.ref: api.pull(local, ref))
            image = _look_one(local, target, image.ref, image.built)
        if image.need in (CURRENT, THEIRS):
            say(f"  {image.line()}")
            done.there.append(image.ref)
            continue
        assert image.local is not None  # SEND or TAG: the local engine has it
        if image.need == TAG:
            change(
                f"tag image {short(image.local)} as {image.ref} (the target's engine)",
                lambda i=image: api.tag_image(target, i.local, i.ref),
            )
            done.tagged.append(image.ref)
        else:
            said = change(
                f"load {image.ref} into the target's engine, streamed from this machine's (~{mb(image.size)})",
                lambda i=image: send(local, target, i, say=say, clock=clock, until=until),
            )
            done.sent.append((image.ref, *said))  # type: ignore[misc]
        verify(target, image.ref, image.local)
    say(done.text())
    return done


def send(
    local: DockerClient,
    target: DockerClient,
    image: Image,
    *,
    say: Callable[[str], None],
    clock: Callable[[], float],
    until: float,
) -> tuple[int, float]:
    """One image, saved by the local engine and loaded by the target's as it streams;
    (bytes, seconds). Progress at most once a second; past `until` the stream stops
    (the target discards a load cut short) and this fails."""
    meter = Meter(image.ref, image.size, say, clock, until)
    api.load(target, meter.count(api.save(local, image.ref)))
    seconds = clock() - meter.started
    say(f"  sent {image.ref}: {rate(meter.sent, seconds)}")
    return meter.sent, seconds


class Meter:
    """Counts the bytes of a stream as they pass, says how far it is at most once a
    second, and stops it past its deadline."""

    def __init__(self, ref: str, size: int, say: Callable[[str], None], clock: Callable[[], float], until: float):
        self.ref, self.size, self.say, self.clock, self.until = ref, size, say, clock, until
        self.sent = 0
        self.started = clock()

    def count(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        shown = None  # the first chunk comes once the engine has begun the tar: counted from there
        for chunk in chunks:
            now = self.clock()
            if now > self.until:
                raise StackyardError(
                    f"shipping {self.ref} stopped at its step's deadline, {mb(self.sent)} of ~{mb(self.size)} sent",
                    "a slow link: build on the target instead (--build-on host: only the build context travels)",
                )
            self.sent += len(chunk)
            if shown is None:
                shown = now
            elif now - shown >= PROGRESS_EVERY:
                self.say(
                    f"  {self.ref}: {mb(self.sent)} of ~{mb(self.size)} sent, {speed(self.sent, now - self.started)}"
                )
                shown = now
            yield chunk


def verify(target: DockerClient, ref: str, want: str) -> None:
    """The target has `ref` with the local image's ID, or the ship failed."""
    found = (api.inspect_image(target, ref) or {}).get("Id")
    if found != want:
        raise StackyardError(
            f"image {ref} is {short(found) if found else 'missing'} on the target after the ship, "
            f"{short(want)} on this machine",
            "deploy again (the ship sends it again); `docker image inspect` on both engines shows each one's",
        )


def short(image_id: str | None) -> str:
    """An image ID as `docker images` shows it (12 hex digits)."""
    return (image_id or "").removeprefix("sha256:")[:12]


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def speed(n: int, seconds: float) -> str:
    return f"{n / 1e6 / seconds if seconds > 0 else 0:.1f} MB/s"


def rate(n: int, seconds: float) -> str:
    return f"{mb(n)} in {seconds:.1f} s ({speed(n, seconds)})"
