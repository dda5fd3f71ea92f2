"""Measuring a stylized sequence against its input (the `vidstyle metrics` command)."""

from __future__ import annotations

from pathlib import Path

from vidstyle.config import FlowPreset
from vidstyle.errors import InputError
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.metric import WarpingErrorResult, warping_error
from vidstyle.video.sources import open_source


def measure_warping_error(
    input: str | Path, stylized: str | Path, *, flow_preset: FlowPreset = FlowPreset.MEDIUM
) -> WarpingErrorResult:
    """Lai et al.'s warping error; refuses sequences of different lengths before decoding them."""
    with open_source(input) as original, open_source(stylized) as result:
        n, m = original.info.frame_count, result.info.frame_count
        if n != m:
            raise InputError(
                f"{input} has {n} frames but {stylized} has {m}; pass the stylized output of exactly this input "
                "(with --start/--end/--every, compare against the same selection)."
            )
        estimator = FlowEstimator(flow_preset)
        return warping_error(
            (frame for _, frame in original.read(range(n))),
            (frame for _, frame in result.read(range(m))),
            estimator=estimator,
        )
