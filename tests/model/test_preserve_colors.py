"""--preserve-colors: luminance-only transfer keeps the input's chroma while the style lands in luminance.

Chroma is measured the way a user would: OpenCV's 8-bit YCrCb of the written
frame against the input's, mean |dCr| + |dCb| in levels of 255.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.build import build_core, load_extractor
from vidstyle.model.color import chroma, combine, grey, luminance
from vidstyle.model.losses import style_loss
from vidstyle.model.style import build_style_targets, style_cache_key
from vidstyle.model.stylizer import Stylizer, TemporalTarget
from vidstyle.temporal.loss import temporal_loss
from vidstyle.video.pixels import bgr_to_tensor, tensor_to_bgr

CPU = torch.device("cpu")
SIZE = (48, 32)

# Measured with the images below (random VGG19, 25 steps): 0.000 levels with
# --preserve-colors, 58.6 without. Changing only Y adds the same amount to R, G
# and B, so rounding to uint8 moves all three alike and Cr, Cb stay put; where
# a saturated colour cannot take the new luminance, Y is clamped, not RGB.
# (With RGB clipped instead, the same run gave 5.4 levels.) The bound leaves
# room for a pixel rounded one level apart.
CHROMA_BOUND = 0.25


def chroma_shift(a: np.ndarray, b: np.ndarray) -> float:
    ya, yb = (cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb).astype(np.float64) for x in (a, b))
    return float(np.abs(ya[..., 1] - yb[..., 1]).mean() + np.abs(ya[..., 2] - yb[..., 2]).mean())


def luma_shift(a: np.ndarray, b: np.ndarray) -> float:
    ya, yb = (cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb).astype(np.float64) for x in (a, b))
    return float(np.abs(ya[..., 0] - yb[..., 0]).mean())


def colourful(height: int, width: int) -> np.ndarray:
    """Smooth bands of saturated colour: a content whose chroma is easy to lose."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    hue = ((x / width * 180 + y / height * 60) % 180).astype(np.uint8)
    hsv = np.stack([hue, np.full_like(hue, 200), (140 + 60 * np.sin(y / 5.0)).astype(np.uint8)], axis=-1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def blue_strokes(size: int = 48) -> np.ndarray:
    """A blue-and-yellow stroke texture: a style whose colours differ from the content's."""
    rng = np.random.default_rng(3)
    image = np.zeros((size, size, 3), np.uint8)
    image[:] = (120, 40, 10)
    for _ in range(40):
        x, y = rng.integers(0, size, 2)
        colour = (40, 220, 240) if rng.random() < 0.4 else (200, 90, 20)
        cv2.line(image, (int(x), int(y)), (int(x) + 6, int(y) + int(rng.integers(-3, 4))), colour, 2)
    return image


@pytest.fixture(scope="module")
def style_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pc") / "strokes.png"
    cv2.imwrite(str(path), blue_strokes())
    return path


@pytest.fixture(scope="module")
def model(random_weights: Path) -> ModelConfig:
    return ModelConfig(weights=random_weights)


@pytest.fixture(scope="module")
def loaded(model: ModelConfig):  # noqa: ANN201
    return load_extractor(model, device=CPU)


def core(model: ModelConfig, style_path: Path, loaded, *, preserve: bool, **optimize: object):  # noqa: ANN001, ANN202
    return build_core(
        model, StyleConfig(images=(style_path,), preserve_colors=preserve), OptimizeConfig(**optimize),  # type: ignore[arg-type]
        content_size=SIZE, cache_dir=None, device=CPU, loaded=loaded,
    )  # fmt: skip


def test_luminance_and_chroma_invert_and_agree_with_opencv() -> None:
    bgr = colourful(16, 24)
    rgb = bgr_to_tensor(bgr).double()
    torch.testing.assert_close(combine(luminance(rgb), chroma(rgb)), rgb, rtol=0, atol=1e-12)
    reference = cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2YCrCb)
    y = luminance(rgb)[0, 0].numpy()
    cb, cr = (chroma(rgb)[0, k].numpy() + 0.5 for k in (0, 1))
    for ours, theirs in ((y, reference[..., 0]), (cr, reference[..., 1]), (cb, reference[..., 2])):
        assert np.abs(ours - theirs).max() < 1e-3  # OpenCV rounds the Cr, Cb scales to 3 digits
    assert torch.equal(grey(luminance(rgb)), luminance(rgb).expand(-1, 3, -1, -1))


def test_preserve_colors_keeps_the_chroma_while_the_luminance_takes_the_style(model, style_path, loaded) -> None:  # noqa: ANN001
    frame = colourful(SIZE[1], SIZE[0])
    content = bgr_to_tensor(frame)
    written = {}
    for preserve in (False, True):
        built = core(model, style_path, loaded, preserve=preserve, tolerance=0)
        written[preserve] = tensor_to_bgr(built.stylizer.stylize(content, init=content, budget=25).image)
    kept, plain = written[True], written[False]
    shifts = {"preserve": chroma_shift(kept, frame), "plain": chroma_shift(plain, frame)}

    # The style loss on luminance, measured on the written frames: Grams of the
    # frame's luminance against those of the style's luminance.
    def luminance_style_loss(image: np.ndarray) -> float:
        with torch.no_grad():
            features = built.extractor(grey(luminance(bgr_to_tensor(image))), tuple(built.style.grams))
            return float(style_loss(features, built.style.grams, built.style.layer_weights))

    before, after = luminance_style_loss(frame), luminance_style_loss(kept)
    print(
        f"\nmean |dCr|+|dCb| (levels): preserve {shifts['preserve']:.3f}, plain {shifts['plain']:.1f}; "
        f"luminance moved {luma_shift(kept, frame):.1f} levels; luminance style loss {before:.3f} -> {after:.3f}"
    )
    assert shifts["preserve"] < CHROMA_BOUND
    assert shifts["plain"] > 10 * CHROMA_BOUND  # without it, the strokes' blue and yellow come in
    assert after < 0.5 * before
    assert luma_shift(kept, frame) > 5.0  # the luminance was really stylized


def test_luminance_targets_ignore_the_styles_colours(model, style_path, loaded, tmp_path: Path) -> None:  # noqa: ANN001
    """With --preserve-colors only the style's luminance counts: its grey version gives the same targets."""
    extractor, _ = loaded
    grey_path = tmp_path / "grey.png"
    cv2.imwrite(str(grey_path), cv2.cvtColor(cv2.cvtColor(blue_strokes(), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))

    def targets(path: Path, preserve: bool):  # noqa: ANN202
        return build_style_targets(
            extractor, StyleConfig(images=(path,), preserve_colors=preserve), model,
            content_size=SIZE, weights_identity="w", device=CPU, cache_dir=None,
        )  # fmt: skip

    colour, grey_version, luminance_colour = targets(style_path, False), targets(grey_path, True), targets(style_path, True)
    assert luminance_colour.luminance_only and not colour.luminance_only
    for name, gram in luminance_colour.grams.items():
        scale = float(gram.abs().max())
        # Equal up to OpenCV's 8-bit rounding of the grey file.
        torch.testing.assert_close(grey_version.grams[name], gram, rtol=0.02, atol=0.02 * scale)
        assert (colour.grams[name] - gram).abs().max() > 0.05 * scale, name
    style = StyleConfig(images=(style_path,))
    assert style_cache_key(style, model, content_size=SIZE, weights_identity="w") != style_cache_key(
        replace(style, preserve_colors=True), model, content_size=SIZE, weights_identity="w"
    )


def test_temporal_term_compares_luminance_with_luminance(model, style_path, loaded) -> None:  # noqa: ANN001
    stylizer: Stylizer = core(model, style_path, loaded, preserve=True).stylizer
    frame = bgr_to_tensor(colourful(SIZE[1], SIZE[0]))
    previous = torch.roll(frame, shifts=3, dims=-1)
    mask = torch.ones(1, 1, SIZE[1], SIZE[0])
    with torch.no_grad():
        terms = stylizer.losses(frame, stylizer.content_targets(frame), TemporalTarget(previous, mask, 1.0))
    expected = temporal_loss(luminance(frame), luminance(previous), mask)
    assert float(terms["temporal"]) == pytest.approx(float(expected), rel=1e-6)
    # A previous frame of other colours but the same luminance costs nothing.
    recoloured = combine(luminance(frame), torch.flip(chroma(frame), dims=[1]))
    with torch.no_grad():
        same = stylizer.losses(frame, stylizer.content_targets(frame), TemporalTarget(recoloured, mask, 1.0))
    assert float(same["temporal"]) == pytest.approx(0.0, abs=1e-10)
