"""Tiny training clips for the fast-method tests: a textured picture panning, and a fake "stylization" of it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from vidstyle.config import ModelConfig, StyleConfig
from vidstyle.methods.fastnet import NetSpec
from vidstyle.methods.feedforward import FastConfig, TrainingClip
from vidstyle.model.build import load_extractor
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.style import StyleTargets, build_style_targets

WIDTH, HEIGHT, FRAMES = 40, 32, 8

# Small enough that a training step takes milliseconds, big enough to learn something.
TINY = FastConfig(net=NetSpec(width=4, blocks=1), train_steps=12, crop=24, window=4, checkpoint_every=4)


def textured(seed: int, height: int, width: int, blur: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), blur)


def panning_frames(count: int = FRAMES, width: int = WIDTH, height: int = HEIGHT) -> list[np.ndarray]:
    """A picture seen through a window moving 1 px right and down per frame."""
    picture = textured(7, height + count, width + count)
    return [np.ascontiguousarray(picture[i : i + height, i : i + width]) for i in range(count)]


def fake_stylization(frame: np.ndarray) -> np.ndarray:
    """A look a small network can learn: inverted colours, channels swapped."""
    return np.ascontiguousarray(255 - frame[:, :, ::-1])


def make_clip(count: int = FRAMES) -> TrainingClip:
    frames = panning_frames(count)
    keys = (1, count - 2)
    return TrainingClip(frames=frames, keyframes={k: fake_stylization(frames[k]) for k in keys})


def make_core(weights: Path, folder: Path) -> tuple[FeatureExtractor, StyleTargets, ModelConfig]:
    """The real extractor (random VGG19 weights through the --weights path) and style targets of a texture."""
    model = ModelConfig(weights=weights)
    extractor, loaded = load_extractor(model, device=torch.device("cpu"))
    style_path = folder / "style.png"
    cv2.imwrite(str(style_path), textured(3, 40, 40, blur=0.8))
    targets = build_style_targets(
        extractor,
        StyleConfig(images=(style_path,)),
        model,
        content_size=(WIDTH, HEIGHT),
        weights_identity=loaded.identity,
        device=torch.device("cpu"),
        cache_dir=None,
    )
    return extractor, targets, model
