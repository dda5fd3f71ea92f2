"""Style blend, style scale, pooling, tv weight and --preserve-colors shape every frame of a sequence, not only the first.

The trick that makes this a real test: the first frame gets one step
(``iterations=1``), and one step returns the image it was evaluated at, the
content itself. So the first frame is the same in every run, and whatever the
later frames show of a setting, they got from being optimized with it
(default temporal mode, flow: each starts from the previous result, warped).
With ``--temporal none`` every frame is a cold start, so --init and --seed
must reach every frame: with one step, each frame *is* its start.

Random VGG19 weights, a 40x30 panning scene, the library API, folder output.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidstyle.config import (
    DeviceChoice,
    ModelConfig,
    OptimizeConfig,
    Optimizer,
    Pooling,
    RunConfig,
    SelectConfig,
    Settings,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
)
from vidstyle.model.build import load_extractor
from vidstyle.model.losses import style_loss, total_variation
from vidstyle.model.style import build_style_targets
from vidstyle.pipeline.run import stylize
from vidstyle.video.pixels import bgr_to_tensor
from vidstyle.video.sources import read_image

SIZE = (40, 30)
FRAMES = 3
CPU = torch.device("cpu")


def scene_frames() -> list[np.ndarray]:
    """A smooth colourful scene seen through a window moving 2 px per frame."""
    rng = np.random.default_rng(21)
    coarse = rng.integers(30, 230, (8, 14, 3), dtype=np.uint8)
    scene = cv2.resize(coarse, (SIZE[0] + 2 * FRAMES, SIZE[1]), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(scene[:, 2 * i : 2 * i + SIZE[0]]) for i in range(FRAMES)]


def stripes() -> np.ndarray:
    y, x = np.mgrid[0:48, 0:48]
    image = np.zeros((48, 48, 3), np.uint8)
    image[((x + y) // 3) % 2 == 0] = (0, 140, 255)
    return image


def blobs() -> np.ndarray:
    noise = np.random.default_rng(11).random((6, 6, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (48, 48), interpolation=cv2.INTER_CUBIC) * (255, 200, 40), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("every-frame")
    frames = root / "frames"
    frames.mkdir()
    for index, frame in enumerate(scene_frames()):
        cv2.imwrite(str(frames / f"f{index}.png"), frame)
    paths = {"frames": frames, "stripes": root / "stripes.png", "blobs": root / "blobs.png", "init": root / "init.png"}
    cv2.imwrite(str(paths["stripes"]), stripes())
    cv2.imwrite(str(paths["blobs"]), blobs())
    cv2.imwrite(str(paths["init"]), np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    return paths


def base_settings(weights: Path, media: dict[str, Path]) -> Settings:
    return Settings(
        model=ModelConfig(weights=weights, device=DeviceChoice.CPU),
        style=StyleConfig(images=(media["stripes"],)),
        # Adam: with random weights L-BFGS (no line search) crawls for its first
        # steps, and the later frames here get only 20. Style only (content
        # weight 0), and no temporal term: it would hold the later frames to
        # the unstylized first one, and these tests look at the style settings.
        optimize=OptimizeConfig(
            iterations=1, iterations_next=20, tolerance=0, content_weight=0.0, optimizer=Optimizer.ADAM, learning_rate=0.05
        ),
        temporal=TemporalConfig(mode=TemporalMode.FLOW, weight=0.0),
        # No canvas (--edge-margin 0): gram_distance measures the written frame against targets at its own
        # size, which is then what the optimizer minimised; with the default 8 px these 40x30 frames would be
        # optimized on a 56x46 canvas, whose Grams their crop does not have (the pooling pair then crossed).
        select=SelectConfig(max_size=None, edge_margin=0),
    )


def run(settings: Settings, media: dict[str, Path], folder: Path) -> list[np.ndarray]:
    settings = settings.replace(run=RunConfig(work_dir=folder.with_name(folder.name + ".work")))
    result = stylize(media["frames"], folder, settings=settings)
    assert result.frames == FRAMES
    return [read_image(path) for path in sorted(folder.glob("frame_*.png"))]


def gram_distance(image: np.ndarray, settings: Settings) -> float:
    """Style loss of a written frame against the targets ``settings`` ask for."""
    extractor, _ = load_extractor(settings.model, device=CPU)
    targets = build_style_targets(
        extractor, settings.style, settings.model, content_size=SIZE, weights_identity="w", device=CPU, cache_dir=None
    )
    with torch.no_grad():
        features = extractor(bgr_to_tensor(image), tuple(targets.grams))
        return float(style_loss(features, targets.grams, targets.layer_weights))


def tv(image: np.ndarray) -> float:
    return float(total_variation(bgr_to_tensor(image)))


def _pairs(base: Settings, media: dict[str, Path]) -> dict[str, tuple[Settings, Settings]]:
    both = (media["stripes"], media["blobs"])
    return {
        "blend": (
            base.replace(style=StyleConfig(images=both, blend=(1.0, 0.0))),
            base.replace(style=StyleConfig(images=both, blend=(0.0, 1.0))),
        ),
        "scale": (
            base.replace(style=replace(base.style, scale=0.5)),
            base.replace(style=replace(base.style, scale=2.0)),
        ),
        "pooling": (
            base.replace(model=replace(base.model, pooling=Pooling.AVG)),
            base.replace(model=replace(base.model, pooling=Pooling.MAX)),
        ),
    }


@pytest.mark.parametrize("setting", ["blend", "scale", "pooling"])
def test_style_settings_shape_the_later_frames(setting: str, media, random_weights: Path, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = _pairs(base_settings(random_weights, media), media)[setting]
    frames_a, frames_b = run(a, media, tmp_path / "a"), run(b, media, tmp_path / "b")
    assert np.array_equal(frames_a[0], frames_b[0])  # the first frame carries nothing
    for k in range(1, FRAMES):
        # Measured against each run's own targets: each later frame is closer to
        # what its settings ask for than the other run's frame is.
        own_a, other_a = gram_distance(frames_a[k], a), gram_distance(frames_b[k], a)
        own_b, other_b = gram_distance(frames_b[k], b), gram_distance(frames_a[k], b)
        print(f"\n{setting} frame {k}: run a {own_a:.3f} vs {other_a:.3f}, run b {own_b:.3f} vs {other_b:.3f}")
        assert own_a < other_a and own_b < other_b, (setting, k, own_a, other_a, own_b, other_b)


def test_tv_weight_smooths_the_later_frames(media, random_weights: Path, tmp_path: Path) -> None:  # noqa: ANN001
    base = base_settings(random_weights, media)
    rough = run(base.replace(optimize=replace(base.optimize, tv_weight=0.0)), media, tmp_path / "rough")
    smooth = run(base.replace(optimize=replace(base.optimize, tv_weight=2000.0)), media, tmp_path / "smooth")
    assert np.array_equal(rough[0], smooth[0])
    for k in range(1, FRAMES):
        assert tv(smooth[k]) < 0.7 * tv(rough[k]), (k, tv(smooth[k]), tv(rough[k]))


def test_preserve_colors_keeps_every_frames_chroma(media, random_weights: Path, tmp_path: Path) -> None:  # noqa: ANN001
    base = base_settings(random_weights, media)
    content = scene_frames()
    kept = run(base.replace(style=replace(base.style, preserve_colors=True)), media, tmp_path / "kept")
    plain = run(base, media, tmp_path / "plain")

    def chroma_shift(a: np.ndarray, b: np.ndarray) -> float:
        ya, yb = (cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb).astype(np.float64) for x in (a, b))
        return float(np.abs(ya[..., 1:] - yb[..., 1:]).mean(axis=(0, 1)).sum())

    for k in range(1, FRAMES):
        assert chroma_shift(kept[k], content[k]) < 0.25  # the bound of tests/model/test_preserve_colors.py
        assert chroma_shift(plain[k], content[k]) > 2.5
        assert np.abs(kept[k].astype(int) - content[k]).mean() > 2.0  # the luminance did move


def test_init_and_seed_reach_every_cold_start(media, random_weights: Path, tmp_path: Path) -> None:  # noqa: ANN001
    base = base_settings(random_weights, media)
    none = base.replace(temporal=TemporalConfig(mode=TemporalMode.NONE))
    budget = replace(none.optimize, iterations=1, init="noise")
    seed0 = run(none.replace(optimize=replace(budget, seed=0)), media, tmp_path / "seed0")
    again = run(none.replace(optimize=replace(budget, seed=0)), media, tmp_path / "again")
    seed1 = run(none.replace(optimize=replace(budget, seed=1)), media, tmp_path / "seed1")
    content = scene_frames()
    for k in range(FRAMES):
        assert np.array_equal(seed0[k], again[k])
        assert np.abs(seed0[k].astype(int) - seed1[k]).mean() > 40  # independent uniform noise differs by ~85
        assert np.abs(seed0[k].astype(int) - content[k]).mean() > 40  # it is noise, not the frame
    assert not np.array_equal(seed0[1], seed0[2])  # each frame has its own noise
    from_image = run(none.replace(optimize=replace(budget, init=str(media["init"]))), media, tmp_path / "image")
    init_image = read_image(media["init"])
    for k in range(FRAMES):
        assert np.array_equal(from_image[k], init_image)
