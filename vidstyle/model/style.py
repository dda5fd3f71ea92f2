"""Style targets: the Gram matrices of the style image(s), computed once per run.

A run stylizes thousands of frames against the same style, so its Gram
matrices are computed once for the working size and held in a StyleTargets
object that the per-frame loop reuses. They are also cached on disk, keyed by
everything that changes them (style image bytes, blend, scale, colour mode,
working size, network, layers, pooling, weights), so the next run with the
same style skips the network entirely.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vidstyle.config import DEEPEST_STYLE_LAYER_WEIGHT, ModelConfig, Pooling, StyleConfig
from vidstyle.errors import StyleError
from vidstyle.files import file_sha256, publish, temporary_for
from vidstyle.model.color import grey, luminance
from vidstyle.model import features
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.losses import gram_matrix
from vidstyle.model.objective import blend_grams
from vidstyle.networks import architecture
from vidstyle.video.pixels import bgr_to_tensor, resize
from vidstyle.video.sources import decode_image_strictly

CACHE_ENV = "VIDSTYLE_CACHE_DIR"
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class StyleTargets:
    grams: dict[str, torch.Tensor]  # layer -> blended Gram target
    layer_weights: dict[str, float]
    key: str  # cache key; also identifies the style in run fingerprints
    from_cache: bool
    luminance_only: bool = False  # Grams of the style's luminance (--preserve-colors)


def default_cache_dir() -> Path | None:
    """VIDSTYLE_CACHE_DIR, or ~/.cache/vidstyle; an empty VIDSTYLE_CACHE_DIR turns caching off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidstyle"


# Style images are resized to the working size; larger ones only cost memory to decode.
_MAX_STYLE_PIXELS = 100_000_000


def read_style_image(path: Path) -> np.ndarray:
    """The style image as BGR uint8, decoded strictly: a truncated or damaged file is refused, never patched.

    A decoder that "succeeds" with a warning (a truncated or corrupt JPEG
    comes back with its missing part grey) counts as a failure: that grey
    would become part of the style. Grey, grey+alpha, RGBA (alpha dropped),
    palette and 16-bit images come out as 8-bit colour.
    """
    if not path.is_file():
        raise StyleError(f"Style image not found: {path}; pass --style with an existing image file.")
    try:
        with Image.open(path) as header:  # the header only: size and format
            width, height = header.size
    except (OSError, SyntaxError, ValueError):
        raise StyleError(f"Could not read style image {path}; use a PNG, JPEG, WebP, BMP or TIFF file.") from None
    if width * height > _MAX_STYLE_PIXELS:
        raise StyleError(
            f"Style image {path} is {width}x{height}, too large to decode ({width * height / 1e6:.0f} megapixels); "
            "resize it to a few thousand pixels a side (it is resized to the working size anyway)."
        )
    image, complaints = decode_image_strictly(path)
    if image is None or complaints:
        said = f": {complaints}" if complaints else ""
        raise StyleError(
            f"Style image {path} is damaged (the decoder said{said or ' nothing, but could not decode it'}); "
            "save or download it again, or pass another --style."
        )
    return image


def style_working_size(style_shape: tuple[int, ...], content_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """Size of the style image for a content working size: its long side = scale * content's long side."""
    height, width = style_shape[:2]
    target_long = max(16, round(max(content_size) * scale))
    # VGG halves the map four times before relu5_1: both sides need >= 16 px,
    # even for a banner-shaped style image.
    factor = max(target_long / max(width, height), 16 / min(width, height))
    return max(16, round(width * factor)), max(16, round(height * factor))


def style_cache_key(
    style: StyleConfig, model: ModelConfig, *, content_size: tuple[int, int], weights_identity: str, scale: float | None = None
) -> str:
    facts = {
        "format": _CACHE_FORMAT,
        "images": [file_sha256(Path(p)) for p in style.images],
        "blend": list(style.normalized_blend()),
        "scale": style.scale if scale is None else scale,
        "preserve_colors": style.preserve_colors,
        "content_size": list(content_size),
        "network": model.network.value,
        "layers": list(_style_layers(model)),
        "pooling": model.pooling.value,
        "padding": model.padding.value,
        "weights": weights_identity,
    }
    if model.pooling is Pooling.POWER:  # a new exponent, new Grams (only here: the other poolings' keys stay as they were)
        facts["power_exponent"] = features.POWER_EXPONENT
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _style_layers(model: ModelConfig) -> tuple[str, ...]:
    """Canonical names (relu1_1, not RELU1_1): the extractor and the Stylizer key everything by them."""
    vgg = architecture(model.network)
    return tuple(dict.fromkeys(vgg.canonical(name) for name in model.style_layers))


def default_layer_weight(canonical_name: str) -> float:
    """A style layer's weight when --style-layer-weights is not given: 1, the relu5_x layers less (config says why)."""
    return DEEPEST_STYLE_LAYER_WEIGHT if canonical_name.startswith("relu5_") else 1.0


def _layer_weights(model: ModelConfig) -> dict[str, float]:
    vgg = architecture(model.network)
    names = [vgg.canonical(name) for name in model.style_layers]
    weights = model.style_layer_weights or tuple(default_layer_weight(name) for name in names)
    return {name: float(w) for name, w in zip(names, weights)}


def build_style_targets(
    extractor: FeatureExtractor,
    style: StyleConfig,
    model: ModelConfig,
    *,
    content_size: tuple[int, int],
    weights_identity: str,
    device: torch.device,
    cache_dir: Path | None,
    scale: float | None = None,
) -> StyleTargets:
    """Compute (or load from the disk cache) the blended Gram targets; ``scale``: instead of ``style.scale``."""
    images = [read_style_image(Path(p)) for p in style.images]  # fail early on a bad style path
    scale = style.scale if scale is None else scale
    key = style_cache_key(style, model, content_size=content_size, weights_identity=weights_identity, scale=scale)
    layers = _style_layers(model)
    layer_weights = _layer_weights(model)
    cached = _load_cached(cache_dir, key, layers, device)
    luminance_only = style.preserve_colors
    if cached is not None:
        return StyleTargets(grams=cached, layer_weights=layer_weights, key=key, from_cache=True, luminance_only=luminance_only)
    per_style: list[dict[str, torch.Tensor]] = []
    with torch.no_grad(), _one_cpu_thread(device):
        for image in images:
            size = style_working_size(image.shape, content_size, scale)
            tensor = bgr_to_tensor(resize(image, size), device=device)
            if luminance_only:
                tensor = grey(luminance(tensor))
            features = extractor(tensor, layers)
            per_style.append({name: gram_matrix(features[name]) for name in layers})
        grams = blend_grams(per_style, style.normalized_blend())
    _store_cached(cache_dir, key, grams)
    return StyleTargets(grams=grams, layer_weights=layer_weights, key=key, from_cache=False, luminance_only=luminance_only)


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, compute the style pass on one thread.

    A convolution's float sums are split across torch's threads, so the Grams of
    the same image differ in their last bits between thread counts (measured:
    four of five layers). The targets are computed once and cached on disk, then
    read by every worker and by a resumed run, whatever their thread count: one
    fixed thread count keeps the frames of a run the same wherever they were made.
    The pass is a single image, so one thread costs little.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _cache_file(cache_dir: Path, key: str) -> Path:
    return cache_dir / "grams" / f"{key}.pt"


def _load_cached(
    cache_dir: Path | None, key: str, layers: tuple[str, ...], device: torch.device
) -> dict[str, torch.Tensor] | None:
    if cache_dir is None:
        return None
    path = _cache_file(cache_dir, key)
    if not path.is_file():
        return None
    try:
        loaded = torch.load(path, map_location=device, weights_only=True)
    except Exception:  # a torn or foreign cache file is simply recomputed
        return None
    if not isinstance(loaded, dict) or set(loaded) != set(layers):
        return None
    return {name: loaded[name] for name in layers}


def _store_cached(cache_dir: Path | None, key: str, grams: dict[str, torch.Tensor]) -> None:
    if cache_dir is None:
        return
    path = _cache_file(cache_dir, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = temporary_for(path)
        torch.save({name: gram.detach().cpu() for name, gram in grams.items()}, temporary)
        publish(temporary, path)
    except OSError:
        # The cache only saves time; a read-only or full disk must not fail the run.
        return
