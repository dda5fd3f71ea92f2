"""Assembling the core from settings: weights -> extractor -> style targets -> Stylizer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.device import resolve_device
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.runtime import resolve_runtime
from vidstyle.model.style import StyleTargets, build_style_targets
from vidstyle.model.stylizer import Stylizer
from vidstyle.networks import architecture
from vidstyle.model.weights import LoadedWeights, load_weights


@dataclass
class Core:
    stylizer: Stylizer
    extractor: FeatureExtractor
    style: StyleTargets
    weights: LoadedWeights
    device: torch.device


def deepest_layer(model: ModelConfig) -> str:
    return architecture(model.network).deepest(model.content_layers + model.style_layers)


def load_extractor(model: ModelConfig, *, device: torch.device | None = None) -> tuple[FeatureExtractor, LoadedWeights]:
    device = device or resolve_device(model.device)
    weights = load_weights(model.weights, network=model.network, deepest_layer=deepest_layer(model))
    extractor = FeatureExtractor(
        weights.state, network=model.network, layers=model.content_layers + model.style_layers, pooling=model.pooling, padding=model.padding
    ).to(device)
    return extractor, weights


def build_core(
    model: ModelConfig,
    style: StyleConfig,
    optimize: OptimizeConfig,
    *,
    content_size: tuple[int, int],
    cache_dir: Path | None,
    device: torch.device | None = None,
    loaded: tuple[FeatureExtractor, LoadedWeights] | None = None,
    style_scale: float | None = None,
    tile: int | None = None,
) -> Core:
    """Everything needed to stylize frames of ``content_size`` (width, height).

    ``style_scale``: the style image's long side over the frames' (default ``style.scale``); a run whose frames
    carry a margin (--edge-margin) scales it so the strokes keep their size against the picture inside it.
    ``tile``: optimize frames in tiles of this many px (model/memory.py chooses it); None: whole.
    """
    device = device or resolve_device(model.device)
    extractor, weights = loaded or load_extractor(model, device=device)
    runtime = resolve_runtime(model.precision, device, compile=model.compile)
    # The network's memory layout is set before the style targets go through it,
    # so every pass of a run (and of a resumed run) uses the same kernels.
    runtime.prepare(extractor)
    by_size: dict[tuple[int, int], StyleTargets] = {}

    def style_at(size: tuple[int, int]) -> StyleTargets:
        """The style targets for frames of ``size``, made once per run (and cached on disk)."""
        if size not in by_size:
            by_size[size] = build_style_targets(
                extractor, style, model, content_size=size, weights_identity=weights.identity, device=device, cache_dir=cache_dir,
                scale=style_scale,
            )
        return by_size[size]

    targets = style_at(content_size)
    stylizer = Stylizer(extractor, targets, model=model, optimize=optimize, runtime=runtime, style_at=style_at, tile=tile)
    for size in stylizer.coarse_sizes(content_size):
        style_at(size)  # now, so a run's style passes are all made before its first frame
    return Core(stylizer=stylizer, extractor=extractor, style=targets, weights=weights, device=device)
