"""Finding and loading VGG19 weights.

Default: torchvision's ImageNet weights (VGG19_Weights.IMAGENET1K_V1),
downloaded once into the torch hub cache. ``--weights PATH`` or the
VIDSTYLE_WEIGHTS variable loads a local state dict instead: a whole
torchvision vgg19 file or one holding only the ``features.*`` keys. Files are
read with ``weights_only=True``, so no pickled code is ever executed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vidstyle.errors import WeightsError
from vidstyle.files import file_sha256
from vidstyle.model.features import expected_feature_shapes

WEIGHTS_ENV = "VIDSTYLE_WEIGHTS"
IMAGENET_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
IMAGENET_FILE = "vgg19-dcbb9e9d.pth"


@dataclass(frozen=True)
class LoadedWeights:
    state: dict[str, torch.Tensor]  # features.* tensors only
    identity: str  # content hash, used in cache keys and run fingerprints
    path: Path


def default_cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE


def resolve_weights_path(weights: Path | None) -> Path | None:
    """The local file to load, or None for the ImageNet default."""
    if weights is not None:
        return Path(weights).expanduser()
    from_env = os.environ.get(WEIGHTS_ENV)
    return Path(from_env).expanduser() if from_env else None


_IDENTITY_MEMO: dict[tuple[str, int, int], str] = {}


def file_identity(path: Path) -> str:
    """sha256 of the file, remembered per (path, size, mtime) within a process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _IDENTITY_MEMO:
        _IDENTITY_MEMO[key] = file_sha256(path)
    return _IDENTITY_MEMO[key]


def _download_default() -> Path:
    target = default_cache_path()
    if target.is_file():
        return target
    try:
        torch.hub.load_state_dict_from_url(IMAGENET_URL, progress=True, check_hash=True, weights_only=True)
    except Exception as error:  # network errors come in many types (URLError, OSError, HTTPError)
        raise WeightsError(
            f"Could not download the VGG19 weights ({type(error).__name__}); place {IMAGENET_FILE} "
            f"in {target.parent} or pass --weights PATH (or set {WEIGHTS_ENV})."
        ) from error
    if not target.is_file():
        raise WeightsError(f"The VGG19 weights did not appear at {target}; pass --weights PATH.")
    return target


def _normalise_keys(raw: dict[str, object], path: Path) -> dict[str, torch.Tensor]:
    """Accept 'features.N.weight' keys, bare 'N.weight' keys and classifier keys."""
    state: dict[str, torch.Tensor] = {}
    extra: list[str] = []
    for key, value in raw.items():
        if key.startswith("classifier."):
            continue  # a whole vgg19 file: the classifier is not needed
        name = key if key.startswith("features.") else f"features.{key}"
        if not isinstance(value, torch.Tensor):
            extra.append(key)
            continue
        state[name] = value
    full = expected_feature_shapes()
    extra += [key for key in state if key not in full]
    if extra:
        shown = ", ".join(sorted(extra)[:6]) + (" ..." if len(extra) > 6 else "")
        raise WeightsError(f"{path} is not a VGG19 state dict: unexpected entries {shown}.")
    return state


def load_weights(weights: Path | None, *, deepest_layer: str) -> LoadedWeights:
    """Load, check and return the feature weights up to ``deepest_layer``."""
    path = resolve_weights_path(weights)
    if path is None:
        path = _download_default()
    elif not path.is_file():
        raise WeightsError(f"Weights file not found: {path}; pass --weights with a VGG19 state dict (.pth).")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors for bad files
        raise WeightsError(
            f"Could not read {path} as a VGG19 state dict ({type(error).__name__}); "
            "pass a file saved with torch.save(model.state_dict())."
        ) from error
    if not isinstance(raw, dict):
        raise WeightsError(f"{path} holds a {type(raw).__name__}, not a state dict; save model.state_dict().")
    state = _normalise_keys(raw, path)
    needed = expected_feature_shapes(deepest_layer)
    missing = [key for key in needed if key not in state]
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise WeightsError(f"{path} is missing VGG19 tensors {shown}; pass a complete vgg19 state dict.")
    wrong = [
        f"{key} {tuple(state[key].shape)} (expected {shape})"
        for key, shape in needed.items()
        if tuple(state[key].shape) != shape
    ]
    if wrong:
        raise WeightsError(f"{path} has wrongly shaped tensors: {'; '.join(wrong[:4])}. Is it a VGG19 file?")
    selected = {key: state[key].float() for key in needed}
    return LoadedWeights(state=selected, identity=file_identity(path), path=path)
