"""Finding and loading VGG19 / VGG16 weights.

Default: torchvision's ImageNet weights of the chosen network
(VGG19_Weights.IMAGENET1K_V1 or VGG16_Weights.IMAGENET1K_V1), downloaded once
into the torch hub cache. ``--weights PATH`` or the VIDSTYLE_WEIGHTS variable
loads a local state dict instead: a whole torchvision vgg19/vgg16 file or one
holding only the ``features.*`` keys. Files are read with ``weights_only=True``,
so no pickled code is ever executed.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torchvision.models import VGG16_Weights, VGG19_Weights

from vidstyle.config import Network
from vidstyle.errors import WeightsError
from vidstyle.files import file_sha256
from vidstyle.networks import VggArchitecture, architecture

WEIGHTS_ENV = "VIDSTYLE_WEIGHTS"

_TORCHVISION_WEIGHTS = {Network.VGG19: VGG19_Weights.IMAGENET1K_V1, Network.VGG16: VGG16_Weights.IMAGENET1K_V1}


@dataclass(frozen=True)
class ImagenetWeights:
    """Where torchvision publishes a network's ImageNet weights, read from its weights enum."""

    network: Network
    url: str
    file_name: str  # the name torch.hub stores it under: vgg19-dcbb9e9d.pth
    sha256_prefix: str  # torch.hub checks the download against it (check_hash)
    megabytes: float


def imagenet_weights(network: Network) -> ImagenetWeights:
    # The URL, and with it the file name and hash, come from torchvision's enum,
    # so they follow torchvision if it ever republishes the files.
    enum = _TORCHVISION_WEIGHTS[network]
    file_name = os.path.basename(urlparse(enum.url).path)
    match = torch.hub.HASH_REGEX.search(file_name)
    return ImagenetWeights(
        network=network,
        url=enum.url,
        file_name=file_name,
        sha256_prefix=match.group(1) if match else "",
        megabytes=float(enum.meta.get("_file_size", 0.0)),
    )


@dataclass(frozen=True)
class LoadedWeights:
    network: Network
    state: dict[str, torch.Tensor]  # features.* tensors only
    identity: str  # content hash, used in cache keys and run fingerprints
    path: Path


def default_cache_path(network: Network) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / imagenet_weights(network).file_name


def resolve_weights_path(weights: Path | None) -> Path | None:
    """The local file to load, or None for the ImageNet default."""
    return weights_source(weights)[0]


def weights_source(weights: Path | None) -> tuple[Path | None, str]:
    """The local file to load (None: the ImageNet default) and where it was named: "--weights" or VIDSTYLE_WEIGHTS."""
    if weights is not None:
        return Path(weights).expanduser(), "--weights"
    from_env = os.environ.get(WEIGHTS_ENV)
    return (Path(from_env).expanduser() if from_env else None), WEIGHTS_ENV


_IDENTITY_MEMO: dict[tuple[str, int, int], str] = {}


def file_identity(path: Path) -> str:
    """sha256 of the file, remembered per (path, size, mtime) within a process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _IDENTITY_MEMO:
        _IDENTITY_MEMO[key] = file_sha256(path)
    return _IDENTITY_MEMO[key]


def _download_default(network: Network) -> Path:
    target = default_cache_path(network)
    if target.is_file():
        return target
    published = imagenet_weights(network)
    title = architecture(network).title
    try:
        torch.hub.load_state_dict_from_url(published.url, progress=True, check_hash=True, weights_only=True)
    except Exception as error:  # network errors come in many types (URLError, OSError, HTTPError)
        raise WeightsError(
            f"Could not download the {title} weights ({type(error).__name__}); place {published.file_name} "
            f"in {target.parent} or pass --weights PATH (or set {WEIGHTS_ENV})."
        ) from error
    if not target.is_file():
        raise WeightsError(f"The {title} weights did not appear at {target}; pass --weights PATH.")
    return target


def _normalise_keys(raw: dict[str, object], path: str, vgg: VggArchitecture) -> dict[str, torch.Tensor]:
    """Accept 'features.N.weight' keys, bare 'N.weight' keys and classifier keys."""
    state: dict[str, torch.Tensor] = {}
    extra: list[str] = []
    for key, value in raw.items():
        if key.startswith("classifier."):
            continue  # a whole vgg file: the classifier is not needed
        name = key if key.startswith("features.") else f"features.{key}"
        if not isinstance(value, torch.Tensor):
            extra.append(key)
            continue
        state[name] = value
    foreign = [key for key in state if key not in vgg.feature_shapes()]
    if foreign and not extra:
        # VGG19 and VGG16 share their first ten convolutions, so only the
        # deeper keys tell the networks apart (VGG19's features.16 is a conv,
        # VGG16's is a pooling layer; VGG16's features.17 is VGG19's relu3_4).
        for network in Network:
            other = architecture(network)
            shapes = other.feature_shapes()
            if other is not vgg and all(key in shapes and tuple(state[key].shape) == shapes[key] for key in state):
                raise WeightsError(
                    f"{path} holds {other.title} weights but --network {vgg.network.value} was chosen; "
                    f"pass --network {other.network.value} or a {vgg.title} file."
                )
    extra += foreign
    if extra:
        shown = ", ".join(sorted(extra)[:6]) + (" ..." if len(extra) > 6 else "")
        raise WeightsError(f"{path} is not a {vgg.title} state dict: unexpected entries {shown}.")
    return state


def load_weights(weights: Path | None, *, network: Network, deepest_layer: str) -> LoadedWeights:
    """Load, check and return the ``network`` feature weights up to ``deepest_layer``."""
    vgg = architecture(network)
    title = vgg.title
    path, source = weights_source(weights)
    if path is None:
        path = _download_default(network)
        named = str(path)
    else:
        # Say where the file was named: a VIDSTYLE_WEIGHTS set long ago is easy to forget.
        named = str(path) if source == "--weights" else f"{path} (from {WEIGHTS_ENV})"
        if not path.is_file():
            fix = (
                f"pass --weights with a {title} state dict (.pth)"
                if source == "--weights"
                else f"point {WEIGHTS_ENV} at a {title} state dict (.pth), or unset it to use the ImageNet weights"
            )
            raise WeightsError(f"Weights file not found: {named}; {fix}.")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the errors below say it all
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip, index and runtime errors for files that are no state dict
        code = re.search(r"GLOBAL ([\w.]+)", str(error)) if isinstance(error, pickle.UnpicklingError) else None
        if code is not None:
            # weights_only refuses anything but tensors and plain containers: a
            # pickle that names a function to call (and so could run code) stops here, unrun.
            raise WeightsError(
                f"{named} holds pickled Python objects besides tensors (it calls {code.group(1)}), which vidstyle "
                f"never loads: they can run code. Pass a plain {title} state dict saved with torch.save(model.state_dict())."
            ) from error
        raise WeightsError(
            f"Could not read {named} as a {title} state dict ({type(error).__name__}); "
            "pass a file saved with torch.save(model.state_dict())."
        ) from error
    if not isinstance(raw, dict):
        raise WeightsError(f"{named} holds a {type(raw).__name__}, not a state dict; save model.state_dict().")
    state = _normalise_keys(raw, named, vgg)
    needed = vgg.feature_shapes(deepest_layer)
    missing = [key for key in needed if key not in state]
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise WeightsError(
            f"{named} is missing {title} tensors {shown}; pass a complete {network.value} state dict."
        )
    wrong = [
        f"{key} {tuple(state[key].shape)} (expected {shape})"
        for key, shape in needed.items()
        if tuple(state[key].shape) != shape
    ]
    if wrong:
        raise WeightsError(f"{named} has wrongly shaped tensors: {'; '.join(wrong[:4])}. Is it a {title} file?")
    selected = {key: state[key].float() for key in needed}
    return LoadedWeights(network=network, state=selected, identity=file_identity(path), path=path)
