"""Coarse-to-fine cold starts: 1/4 and 1/2 size first, against style targets made for those sizes, then full size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.build import build_core, load_extractor
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.stylizer import StepReport
from vidstyle.video.pixels import bgr_to_tensor

CPU = torch.device("cpu")
SIZE = (128, 96)  # 1/4 would be 32x24, below the 32 px a coarse size needs; 1/2 is 64x48


def textured(seed: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 2.0)


@pytest.fixture(scope="module")
def model(random_weights: Path) -> ModelConfig:
    return ModelConfig(weights=random_weights, device="cpu")


@pytest.fixture(scope="module")
def loaded(model: ModelConfig):  # noqa: ANN201
    return load_extractor(model, device=CPU)


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> StyleConfig:
    path = tmp_path_factory.mktemp("style") / "style.png"
    cv2.imwrite(str(path), textured(1, 64, 64))
    return StyleConfig(images=(path,))


@pytest.fixture(scope="module")
def content() -> torch.Tensor:
    return bgr_to_tensor(textured(2, SIZE[1], SIZE[0]))


def core(model, style, loaded, cache_dir=None, size=SIZE, **options):  # noqa: ANN001, ANN201
    options = {"coarse_to_fine": True, **options}
    return build_core(model, style, OptimizeConfig(**options), content_size=size, cache_dir=cache_dir, device=CPU, loaded=loaded)


def test_coarse_sizes_are_quarter_and_half_when_big_enough(model, style, loaded) -> None:  # noqa: ANN001
    stylizer = core(model, style, loaded, size=(64, 48)).stylizer
    assert stylizer.coarse_sizes((256, 144)) == [(64, 36), (128, 72)]
    assert stylizer.coarse_sizes((128, 96)) == [(64, 48)]
    assert stylizer.coarse_sizes((48, 32)) == []  # too small to go coarser
    off = core(model, style, loaded, size=(64, 48), coarse_to_fine=False).stylizer
    assert off.coarse_sizes((256, 144)) == []


def test_style_targets_of_every_size_are_made_once_before_the_first_frame(model, style, loaded, isolated_cache) -> None:  # noqa: ANN001
    extractor: FeatureExtractor = loaded[0]
    before = extractor.passes
    built = core(model, style, loaded, cache_dir=isolated_cache)
    assert extractor.passes - before == 2  # the style at the working size and at 64x48
    assert len(list((isolated_cache / "grams").glob("*.pt"))) == 2
    before = extractor.passes
    again = core(model, style, loaded, cache_dir=isolated_cache)
    assert extractor.passes == before and again.style.from_cache
    # The coarse stage reads the coarse targets: they differ from the full-size ones (the style image is
    # resized with the frame, so its brush strokes keep their size relative to the frame).
    coarse = built.stylizer.style_at((64, 48))
    assert not torch.allclose(coarse.grams["relu3_1"], built.style.grams["relu3_1"])


def test_a_cold_start_goes_coarse_to_fine_and_starts_its_full_size_stage_stylized(model, style, loaded, content) -> None:  # noqa: ANN001
    stylizer = core(model, style, loaded, tolerance=0).stylizer
    reports: list[StepReport] = []
    cold = stylizer.stylize(content, init=content, budget=6, on_step=reports.append, cold=True)
    plain = stylizer.stylize(content, init=content, budget=6)
    assert cold.coarse_steps == (6,) and cold.steps == 12 and len(cold.history) == 6
    assert plain.coarse_steps == () and plain.steps == 6
    # One count of steps across the stages, reported against the whole budget.
    assert [r.step for r in reports] == list(range(1, 13)) and {r.budget for r in reports} == {12}
    # The full-size stage starts from the upsampled 64x48 result: already far from the content,
    # in style, and ends lower than six full-size steps from the content do.
    assert cold.initial.style < 0.5 * plain.initial.style
    assert cold.final.total < plain.final.total
    assert cold.image.shape == content.shape


def test_a_coarse_to_fine_frame_is_the_same_every_time(model, style, loaded, content) -> None:  # noqa: ANN001
    stylizer = core(model, style, loaded, tolerance=0).stylizer
    noise = torch.rand(content.shape, generator=torch.Generator().manual_seed(3))
    first = stylizer.stylize(content, init=noise, budget=4, cold=True)
    again = stylizer.stylize(content, init=noise, budget=4, cold=True)
    assert torch.equal(first.image, again.image) and first.history == again.history
