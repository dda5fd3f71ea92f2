"""The memory check: a frame that clearly cannot fit is refused, naming a --max-size that does."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import UsageError
from vidstyle.model.memory import check_memory, frame_bytes
from vidstyle.video.pixels import working_size

CPU = torch.device("cpu")


def test_ordinary_frames_pass() -> None:
    check_memory((256, 144), device=CPU, max_size=256, available=int(2e9))
    check_memory((1920, 1080), device=CPU, max_size=1920, available=int(16e9))


def test_a_frame_too_large_names_a_size_that_fits() -> None:
    with pytest.raises(UsageError) as caught:
        check_memory((4096, 2304), device=CPU, max_size=4096, available=int(19e9))
    message = str(caught.value)
    assert message == (
        "At --max-size 4096 the frames are 4096x2304 (9.4 megapixels): optimizing one needs about 29 GB of memory, "
        "and this machine has 19.0 GB free; use --max-size 3264 or less."
    )
    suggested = working_size(4096, 2304, 3264)
    assert frame_bytes(suggested) <= 19e9 < frame_bytes(working_size(4096, 2304, 3264 + 64))


def test_no_memory_at_all_says_so() -> None:
    with pytest.raises(UsageError, match="free some memory first"):
        check_memory((640, 480), device=CPU, max_size=640, available=int(0.5e9))


def test_this_machine_answers() -> None:
    from vidstyle.model.memory import available_bytes

    free = available_bytes(CPU)
    assert free is None or free > 0
