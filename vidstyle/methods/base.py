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
    flow_seconds: float  # of the frame's time, spent on optical flow
    redone: str = ""  # why and how the frame was redone after a numerical fault ("" when it was not)


# (step, budget, loss) after every step; may raise to abandon the frame.
StepCallback = Callable[[int, int, float], None]


class Method(Protocol):
    identity: str  # what the output depends on besides settings and inputs (the weights' hash); part of the run fingerprint
    style_passes: int  # images that went through the network to build the style targets (0 when cached)
    uses_previous: bool  # whether warm frames need the previous content and stylized frames

    def stylize(self, task: FrameTask, *, on_step: StepCallback) -> FrameResult: ...


# (settings, working size) -> a method ready to stylize frames of that size.
MethodFactory = Callable[[Settings, tuple[int, int]], Method]
