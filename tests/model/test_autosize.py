"""--max-size auto's choice (vidstyle/model/autosize.py): the pure decision with made-up timings, and the probe on the CPU."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.autosize import (
    BUDGET_SECONDS,
    CANDIDATES,
    CPU_SIZE,
    Probe,
    SizeChoice,
    candidates,
    choose_size,
    probe_sizes,
    without_gpu,
)
from vidstyle.model.memory import frame_bytes
from vidstyle.video.pixels import working_size

GB = 10**9


def probes(step_seconds: dict[int, float | None], source: tuple[int, int] = (1920, 1080), peak: int | None = None) -> list[Probe]:
    return [Probe(side, working_size(*source, side), seconds, peak) for side, seconds in step_seconds.items()]


def test_the_largest_size_within_the_budget_is_chosen() -> None:
    # 20 steps of a warm frame: 0.05 s/step -> 1.0 s, 0.1 -> 2.0 s (at the budget: taken), 0.15 -> 3.0 s.
    measured = probes({256: 0.01, 512: 0.05, 1024: 0.1, 1536: 0.15})
    choice = choose_size(measured, steps=20, available_bytes=80 * GB)
    assert choice.max_size == 1024
    assert choice.reason.startswith("1024 (auto: a warm frame (20 steps) takes 2.00 s at 1024 on the GPU, within 2 s")
    assert "1536 would take 3.00 s" in choice.reason


def test_more_steps_per_warm_frame_choose_a_smaller_size() -> None:
    measured = probes({256: 0.01, 512: 0.05, 1024: 0.1})
    assert choose_size(measured, steps=20, available_bytes=None).max_size == 1024
    assert choose_size(measured, steps=40, available_bytes=None).max_size == 512
    assert choose_size(measured, steps=40, available_bytes=None, budget_seconds=4.0).max_size == 1024


def test_memory_stops_the_choice_before_the_budget_does() -> None:
    measured = probes({256: 0.001, 512: 0.002, 1024: 0.004, 2048: 0.008})
    # The run's own memory check (model/memory.py) would refuse 2048x1152 in 8 GB: auto must not choose it.
    assert frame_bytes(working_size(1920, 1080, 2048)) > 0.9 * 8 * GB
    choice = choose_size(measured, steps=20, available_bytes=8 * GB, where="NVIDIA Test")
    assert choice.max_size == 1024
    assert "2048 would need about" in choice.reason and "NVIDIA Test has 8.0 GB free" in choice.reason
    # A measured peak above the estimate counts too.
    heavy = probes({256: 0.001, 512: 0.002}, peak=7 * GB)
    assert choose_size(heavy, steps=20, available_bytes=7 * GB).max_size == CPU_SIZE


def test_out_of_memory_and_a_gap_end_the_run_of_sizes() -> None:
    assert choose_size(probes({256: 0.01, 512: 0.02, 768: None}), steps=20, available_bytes=None).max_size == 512
    # A larger size measured faster after a slower one is not taken: only an unbroken run from the smallest.
    assert choose_size(probes({256: 0.01, 512: 0.5, 768: 0.01}), steps=20, available_bytes=None).max_size == 256


def test_when_nothing_fits_the_smallest_size_is_chosen_and_the_reason_says_why() -> None:
    choice = choose_size(probes({256: 1.0}), steps=20, available_bytes=None)
    assert choice == SizeChoice(CPU_SIZE, "256 (auto: the smallest size; 256 would take 20.00 s)")
    assert choose_size([], steps=20, available_bytes=None).max_size == CPU_SIZE


def test_never_above_the_source_and_the_source_size_is_tried() -> None:
    assert candidates((1280, 544)) == [256, 384, 512, 768, 1024, 1280]
    assert candidates((1920, 1080)) == [256, 384, 512, 768, 1024, 1536, 1920]
    assert candidates((3840, 2160)) == list(CANDIDATES)
    assert candidates((200, 120)) == [200]
    assert max(candidates((640, 480))) == 640
    assert candidates((4000, 200)) == [384, 512, 768, 1024, 1536, 2048]  # at 256 the short side (12 px) is under VGG's 16
    measured = probes({side: 0.001 for side in candidates((1280, 544))}, source=(1280, 544))
    choice = choose_size(measured, steps=20, available_bytes=None, source_long_side=1280)
    assert choice.max_size == 1280 and choice.reason.endswith("1280 is the input's own size)")
    measured = probes({side: 0.001 for side in candidates((3840, 2160))}, source=(3840, 2160))
    assert choose_size(measured, steps=20, available_bytes=None, source_long_side=3840).reason.endswith("2048 is the largest size auto tries)")


def test_a_cpu_chooses_256_without_measuring() -> None:
    assert without_gpu(torch.device("cpu")) == SizeChoice(256, "256 (auto: a CPU; --max-size N for another size)")
    assert without_gpu(torch.device("mps")).reason.startswith("256 (auto: MPS")


def test_the_choice_goes_through_json_and_bad_records_are_refused() -> None:
    choice = SizeChoice(768, "768 (auto: ...)")
    assert SizeChoice.from_json(choice.to_json()) == choice
    for bad in (None, {}, {"max_size": "auto"}, {"max_size": 8}, [768]):
        with pytest.raises(ValueError):
            SizeChoice.from_json(bad)


def test_the_probe_times_warm_steps_and_stops_after_the_first_size_over_the_budget(random_weights: Path, tmp_path: Path) -> None:
    """The real probe, on the CPU at tiny sizes, with a clock that makes a step cost 0.01 s per 16 px of long side."""
    frame = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), frame[::-1])
    ticks = itertools.count()
    current = {"side": 0}

    def clock() -> float:  # each step advances the clock by the cost of a step at the size being probed
        return next(ticks) * 0.01 * current["side"] / 16

    sides = [32, 48, 64]
    probed: list[Probe] = []
    for side in sides:  # one size at a time so the clock knows the size
        current["side"] = side
        probed += probe_sizes(
            frame, [side], model=ModelConfig(weights=random_weights), style=StyleConfig(images=(style,)),
            optimize=OptimizeConfig(iterations_next=20), temporal_weight=500.0, device=torch.device("cpu"), clock=clock,
        )  # fmt: skip
    assert [p.size for p in probed] == [working_size(64, 48, side) for side in sides]
    assert [round(p.step_seconds, 6) for p in probed] == [0.02, 0.03, 0.04]  # type: ignore[arg-type]
    # Together: stops after the first size over the budget (20 steps x 0.04 s at 64 = 0.8 s > 0.5 s).
    current["side"] = 64
    stopped = probe_sizes(
        frame, [64, 32], model=ModelConfig(weights=random_weights), style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations_next=20), temporal_weight=None, device=torch.device("cpu"), clock=clock,
        budget_seconds=0.5,
    )  # fmt: skip
    assert [p.long_side for p in stopped] == [64]
    assert BUDGET_SECONDS == 2.0  # the documented budget (docs/cli.md, README)
