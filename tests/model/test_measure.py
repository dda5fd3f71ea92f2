"""The quality measures of benchmarks/peer.py (vidstyle.model.measure) on synthetic pictures whose answer is known.

The ripple case is the look of issue 22: a photo with a flat sky; one picture
paints the painting's brush strokes into it, the other a fine ring pattern
with colour fringes at the same strength. The measure must flag the second
and not the first.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidstyle.model.measure import Judge, distances, flat_mask, grid, ripple

SIZE = 96


def _strokes(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """A painting-like texture: long smooth strokes running one way (about 24 px long, 4 px wide), blue and yellow, BGR uint8."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(shape[0], shape[1], 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigmaX=6.0, sigmaY=1.0)
    blurred /= blurred.std()
    base = np.array([150, 110, 60], np.float32)  # a Starry Night blue (BGR)
    return np.clip(base + 45 * blurred, 0, 255).astype(np.uint8)


def _photo() -> np.ndarray:
    """A flat sky over a busy ground: the top half one colour, the bottom half fine noise."""
    rng = np.random.default_rng(1)
    photo = np.empty((SIZE, SIZE, 3), np.uint8)
    photo[: SIZE // 2] = (200, 170, 140)
    photo[SIZE // 2 :] = rng.integers(40, 200, size=(SIZE - SIZE // 2, SIZE, 3))
    return photo


def _whorls(shape: tuple[int, int], seed: int = 3) -> np.ndarray:
    """Small ring patterns (3.5 px rings, about 8 px across) tiled with jitter, out of phase per colour channel, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    out = np.zeros((*shape, 3), np.float32)
    for cy in range(4, shape[0], 9):
        for cx in range(4, shape[1], 9):
            radius = np.hypot(x - cx - rng.uniform(-2, 2), y - cy - rng.uniform(-2, 2))
            for channel, phase in enumerate((0.0, 2.1, 4.2)):  # the colour fringes
                out[..., channel] += np.sin(2 * np.pi * radius / 3.5 + phase) * np.exp(-((radius / 4) ** 2))
    return out / np.abs(out).max()


def test_ripple_flags_fine_rings_in_the_flat_sky_and_not_the_paintings_own_strokes() -> None:
    photo, painting = _photo(), _strokes(0, (SIZE, SIZE))
    sky = np.zeros(photo.shape[:2], bool)
    sky[: SIZE // 2] = True
    strokes = photo.copy()
    strokes[sky] = _strokes(2, (SIZE, SIZE))[sky]  # the painting's kind of texture, a different draw
    rings = strokes.astype(np.float32)
    rings[sky] += 60 * _whorls((SIZE, SIZE))[sky]  # the same strokes with small rings on top
    rings = np.clip(rings, 0, 255).astype(np.uint8)
    assert flat_mask(photo)[: SIZE // 2].mean() > 0.5 and not flat_mask(photo)[SIZE // 2 :].any()
    painted, rippled = ripple(strokes, photo, painting), ripple(rings, photo, painting)
    assert 0.7 < painted < 1.5  # strokes like the painting's score about as the painting (the window reaches past the sky)
    assert rippled > 1.5 * painted  # the ring texture is flagged
    # Ripple outside the flat region is the photo's own detail, not judged:
    busy = strokes.astype(np.float32)
    busy[~sky] += 60 * _whorls((SIZE, SIZE))[~sky]
    assert ripple(np.clip(busy, 0, 255).astype(np.uint8), photo, painting) == pytest.approx(painted, rel=0.15)  # the window reaches a little across the edge


def test_distances_are_zero_at_the_targets_and_grow_away_from_them(random_vgg16_weights: Path) -> None:
    judge = Judge(torch.load(random_vgg16_weights, weights_only=True))
    photo, painting = _photo(), _strokes(0, (SIZE, SIZE))
    at_photo = distances(judge, photo, photo, painting)
    at_painting = distances(judge, painting, photo, painting)
    halfway = distances(judge, cv2.addWeighted(photo, 0.5, painting, 0.5, 0), photo, painting)
    assert at_photo.content == 0.0 and at_painting.style_mean < 1e-6
    assert at_photo.style_mean > halfway.style_mean > at_painting.style_mean
    assert at_painting.content > halfway.content > at_photo.content
    assert set(at_photo.style) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}


# --------------------------------------------------------------------------- grid (issue 22's lattice of fast mode)


def _landscape(seed: int, grain: float) -> np.ndarray:
    """A smooth random picture (features about 10 px), with Gaussian film grain of ``grain`` grey levels, BGR uint8 64x96."""
    rng = np.random.default_rng(seed)
    smooth = cv2.GaussianBlur(rng.normal(size=(64, 96, 3)).astype(np.float32), (0, 0), 4.0)
    smooth = 128 + 40 * smooth / smooth.std()
    return np.clip(smooth + rng.normal(0, grain, size=smooth.shape), 0, 255).astype(np.uint8)


def _with_lattice(picture: np.ndarray, levels: float, period: int = 4) -> np.ndarray:
    """Thin lines every ``period`` px across and down, ``levels`` grey levels brighter: the look of a strided network's grid."""
    y, x = np.mgrid[: picture.shape[0], : picture.shape[1]]
    lines = ((y % period == 0) | (x % period == 0)).astype(np.float32)[..., None]
    return np.clip(picture + levels * lines, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("grain", [0.0, 8.0])
def test_grid_flags_a_faint_period_4_lattice_and_not_the_picture_under_it(grain: float) -> None:
    # Measured over 50 seeds: clean pictures 0.68-1.74 (one frame's spectrum
    # scatters about 1/ln 2); a 3-level lattice 2,000-5,900 on the smooth
    # picture, 6.1-10.3 under grain of 8 levels (the grain's own power at a
    # quarter of a cycle per pixel hides much of it).
    for seed in range(3):
        clean = _landscape(seed, grain)
        assert grid(clean) < 2.0
        assert grid(_with_lattice(clean, 3.0)) > (100.0 if grain == 0 else 4.0)
    # Frames of a video average: clean ones come out nearer 1, a lattice fixed to the pixel grid stays.
    frames = [_landscape(seed, grain) for seed in range(8)]
    assert 0.8 < grid(frames) < 1.4
    assert grid([_with_lattice(f, 3.0) for f in frames]) > 4.0  # 7.2 under grain
