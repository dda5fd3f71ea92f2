"""Temporal consistency: optical flow, warping, reliability masks, temporal loss and metric."""

from vidstyle.temporal.flo import read_flo, write_flo
from vidstyle.temporal.flow import FlowEstimator, FlowPair, FlowPreset
from vidstyle.temporal.loss import temporal_loss
from vidstyle.temporal.masks import photometric_mask, reliability_mask, reliable_fraction
from vidstyle.temporal.metric import WarpingErrorResult, warping_error
from vidstyle.temporal.warp import warp_image, warp_tensor

__all__ = [
    "FlowEstimator",
    "FlowPair",
    "FlowPreset",
    "WarpingErrorResult",
    "read_flo",
    "photometric_mask",
    "reliability_mask",
    "reliable_fraction",
    "temporal_loss",
    "warp_image",
    "warp_tensor",
    "warping_error",
    "write_flo",
]
