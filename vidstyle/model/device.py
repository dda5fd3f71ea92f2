"""Picking the torch device: auto prefers cuda, then mps, then cpu."""

from __future__ import annotations

import torch

from vidstyle.config import DeviceChoice
from vidstyle.errors import UsageError


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(choice: DeviceChoice) -> torch.device:
    if choice is DeviceChoice.AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice is DeviceChoice.CUDA and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is available; use --device auto or cpu.")
    if choice is DeviceChoice.MPS and not _mps_available():
        raise UsageError("--device mps was asked for but MPS is not available; use --device auto or cpu.")
    return torch.device(choice.value)
