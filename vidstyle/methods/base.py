"""What a chain needs from a stylization method, and nothing more.

A chain (pipeline/chain.py) walks its frames in order and asks its method
for one frame at a time, handing it the frame's content, whether the frame
starts cold (the first frame of the chain: no previous frame to start from),
and, for a warm frame, the previous content frame and the previous stylized
frame exactly as stored on disk (uint8), so that a resumed chain computes
what an uninterrupted one does. The method reports progress per step through
a callback, which may raise to abandon the frame (Ctrl-C).

A method is built once per worker by a MethodFactory and reused for every
chain that worker runs; it holds no state from one frame to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vidstyle.config import Settings
from vidstyle.faults import Faults
from vidstyle.model.stylizer import StepReport


class StopToken(Protocol):
    """The one stop token: set when the run should stop (Ctrl-C, SIGTERM). pipeline/interrupt.py StopFlag is it;
    a chain, the keyframes and fast mode's training all poll the same object."""

    @property
    def requested(self) -> bool: ...


class FrameAbandoned(Exception):
    """Raised from a frame's step callback once a stop is requested: the frame in progress is dropped, nothing written."""


@dataclass(frozen=True)
class GivenStart:
    """A frame started from a given image instead of from its previous frame: an in-between's fill (temporal/inbetween.py).

    The optimizer starts at ``init``, runs ``budget`` steps and holds the
    image to ``target`` where ``mask`` is 1 (its temporal term).
    """

    init: np.ndarray  # (H, W, 3) float32 BGR in [0, 255]
    target: np.ndarray  # (H, W, 3) float32 BGR in [0, 255]
    mask: np.ndarray  # (H, W) float32 in [0, 1]
    budget: int


@dataclass(frozen=True)
class FrameTask:
    position: int  # in the plan
    shot_offset: int  # frames since its shot's first frame: seeds anything random, so a shot comes out as a run started at its cut
    content: np.ndarray  # BGR uint8 at the working size
    cold: bool  # first frame of its chain
    previous_content: np.ndarray | None  # warm frames: the content frame before it
    previous_stylized: np.ndarray | None  # warm frames: the stored stylized frame before it
    faults: Faults = Faults()  # the run's injected fault (vidstyle/faults.py): the ``nan`` point poisons a frame
    given: GivenStart | None = None  # start from this instead (an in-between's short fill); cold and previous_* are then unused


class Terms(Mapping[str, float]):
    """Each term of a frame's objective, unweighted, by the objective's names (model/objective.py): read-only.

    A small mapping of its own rather than ``types.MappingProxyType``, which
    cannot be pickled (records travel back from Ray actors).
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, float] | None = None) -> None:
        self._values = {str(name): float(value) for name, value in (values or {}).items()}

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Terms({self._values!r})"

    def __getstate__(self) -> dict[str, float]:
        return self._values

    def __setstate__(self, values: dict[str, float]) -> None:
        self._values = values


@dataclass(frozen=True)
class FrameOutcome:
    """What one frame came to and cost: made once by the method, carried unchanged by the events, the log and RunResult.

    The chain adds what only it knows (:meth:`placed`): the frame's index in
    the input, its time on the chain's critical path, its decode time, and
    whether it started cold. The work dir's per-frame log is :meth:`to_json`.
    """

    position: int  # in the plan
    steps: int
    stopped_early: bool
    loss: float  # the objective's weighted total at the returned image
    terms: Terms = field(default_factory=Terms)  # each term unweighted, by name: content, style, tv, temporal, gamut, coarse (empty: no objective)
    flow_seconds: float = 0.0  # optical flow (computed ahead, beside the previous frame's optimization)
    optimize_seconds: float = 0.0  # in the optimizer (network passes and steps)
    redone: str = ""  # why and how the frame was redone after a numerical fault ("" when it was not)
    # Set by the chain (placed):
    source_index: int = -1
    seconds: float = 0.0  # on the chain's critical path: from asking for the frame to its result
    decode_seconds: float = 0.0  # decoding and resizing the input frame (read ahead, on another thread)
    cold: bool = False  # a cold start: no previous frame to start from, the first-frame budget

    def __post_init__(self) -> None:
        if not isinstance(self.terms, Terms):
            object.__setattr__(self, "terms", Terms(self.terms))

    def placed(self, *, source_index: int, seconds: float, decode_seconds: float, cold: bool) -> FrameOutcome:
        return replace(self, source_index=source_index, seconds=seconds, decode_seconds=decode_seconds, cold=cold)

    @property
    def content_loss(self) -> float:
        return self.terms.get("content", 0.0)

    @property
    def style_loss(self) -> float:
        return self.terms.get("style", 0.0)

    @property
    def tv_loss(self) -> float:
        return self.terms.get("tv", 0.0)

    @property
    def temporal_loss(self) -> float:
        return self.terms.get("temporal", 0.0)

    def to_json(self) -> dict[str, object]:
        """One flat row of the per-frame log: the fields, and each term as ``<name>_loss`` (the log's shape before terms)."""
        row: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "terms"}
        row.update({f"{name}_loss": value for name, value in self.terms.items()})
        return row

    @classmethod
    def from_json(cls, row: Mapping[str, object]) -> FrameOutcome:
        """A log row back; rows written before the tv term was logged read with the terms they have."""
        known = {f.name for f in fields(cls)} - {"terms"}
        terms = {key.removesuffix("_loss"): float(value) for key, value in row.items() if key.endswith("_loss")}  # type: ignore[arg-type]
        return cls(terms=terms, **{key: value for key, value in row.items() if key in known})  # type: ignore[arg-type]


@dataclass(frozen=True)
class FrameResult:
    """A method's answer for one frame: the pixels, and the frame's record."""

    image: np.ndarray  # BGR uint8 at the working size
    outcome: FrameOutcome

    @property
    def redone(self) -> str:
        return self.outcome.redone


# Called with each step's StepReport (its ``frame`` set); may raise to abandon the frame.
StepCallback = Callable[[StepReport], None]

# ``Preparing.prepare(position, previous_content, content)``: see Preparing.
Prepare = Callable[[int, "np.ndarray | None", np.ndarray], None]


class Method(Protocol):
    identity: str  # what the output depends on besides settings and inputs (the weights' hash); part of the run fingerprint
    style_passes: int  # images that went through the network to build the style targets (0 when cached)
    uses_previous: bool  # whether warm frames need the previous content and stylized frames

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult: ...


class MethodBatch(Protocol):
    """Frames of several chains stylized together, one network pass for all (``--batch-chains``).

    A method that can batch is :class:`Batching`.
    Each frame keeps its own losses, early stop and optimizer state, so a
    frame comes out as :meth:`Method.stylize` would make it (up to rounding).
    """

    @property
    def free(self) -> int: ...

    def add(self, task: FrameTask, *, on_step: StepCallback) -> int:
        """Start a frame in a free slot; returns the slot."""
        ...

    def step(self) -> list[tuple[int, FrameResult]]:
        """One step of every frame in the batch; the frames that finished, by slot (their slots are free again)."""
        ...


@runtime_checkable
class Preparing(Protocol):
    """An optional ability: the part of a frame's work that needs only the input frames (optical flow), done ahead.

    A chain calls ``prepare`` on its read-ahead thread, in frame order, as soon
    as a frame is decoded, while the frame before is still being optimized;
    ``stylize`` then finds the result ready. ``previous_content`` is None for
    the first frame a chain reads. It must be safe to run beside ``stylize``.
    """

    def prepare(self, position: int, previous_content: np.ndarray | None, content: np.ndarray) -> None: ...


@runtime_checkable
class Batching(Protocol):
    """An optional ability: frames of several chains stylized together (``--batch-chains``)."""

    def open_batch(self, capacity: int) -> MethodBatch | None:
        """A batch of ``capacity`` slots, or None when this method cannot batch after all (the chains then run one by one)."""
        ...


@runtime_checkable
class SharingCore(Protocol):
    """An optional ability: the built feature network and style targets, shared with fast mode's training (pipeline/fast.py)."""

    @property
    def core(self) -> Any: ...


# (settings, frame size) -> a method ready to stylize frames of that size: the working size plus
# settings.select.edge_margin px on every side (the canvas the run's working frames are on; pipeline/plan.py).
MethodFactory = Callable[[Settings, tuple[int, int]], Method]
