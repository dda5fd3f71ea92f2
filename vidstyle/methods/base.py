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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vidstyle.config import Settings
from vidstyle.faults import Faults


@dataclass(frozen=True)
class FrameTask:
    position: int  # in the plan
    shot_offset: int  # frames since its shot's first frame: seeds anything random, so a shot comes out as a run started at its cut
    content: np.ndarray  # BGR uint8 at the working size
    cold: bool  # first frame of its chain
    previous_content: np.ndarray | None  # warm frames: the content frame before it
    previous_stylized: np.ndarray | None  # warm frames: the stored stylized frame before it
    faults: Faults = Faults()  # the run's injected fault (vidstyle/faults.py): the ``nan`` point poisons a frame


@dataclass(frozen=True)
class FrameResult:
    image: np.ndarray  # BGR uint8 at the working size
    steps: int
    stopped_early: bool
    loss: float
    content_loss: float
    style_loss: float
    temporal_loss: float
    flow_seconds: float  # spent on optical flow for this frame (ahead of it, when the method prepares frames)
    optimize_seconds: float = 0.0  # spent in the optimizer itself
    redone: str = ""  # why and how the frame was redone after a numerical fault ("" when it was not)


# (step, budget, loss) after every step; may raise to abandon the frame.
StepCallback = Callable[[int, int, float], None]

# A method may also offer ``prepare(position, previous_content, content)``: the
# part of a frame's work that needs only the input frames (optical flow). A
# chain calls it on its read-ahead thread, in frame order, as soon as a frame
# is decoded, while the frame before is still being optimized; ``stylize``
# then finds the result ready. ``previous_content`` is None for the first
# frame a chain reads. It must be safe to run beside ``stylize``.
Prepare = Callable[[int, "np.ndarray | None", np.ndarray], None]


class Method(Protocol):
    identity: str  # what the output depends on besides settings and inputs (the weights' hash); part of the run fingerprint
    style_passes: int  # images that went through the network to build the style targets (0 when cached)
    uses_previous: bool  # whether warm frames need the previous content and stylized frames

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult: ...


class MethodBatch(Protocol):
    """Frames of several chains stylized together, one network pass for all (``--batch-chains``).

    A method that can batch offers ``open_batch(capacity) -> MethodBatch | None``.
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


# (settings, working size) -> a method ready to stylize frames of that size.
MethodFactory = Callable[[Settings, tuple[int, int]], Method]
