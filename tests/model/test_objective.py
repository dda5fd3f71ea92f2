"""The one objective (vidstyle.model.objective): terms per image, composed, and used by the optimizer and fast mode.

What it promises: each image of a batch gets the loss it gets alone; the
total is the weighted sum of the named terms; a gradient step lowers it; a
new term is one object added to the list. Random VGG19 weights (through the
real --weights path), small images, CPU.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.mediatools import optional_tool
from vidstyle.config import ModelConfig, OptimizeConfig, Precision, StyleConfig
from vidstyle.model.build import load_extractor
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.losses import gram_matrix
from vidstyle.model.objective import Content, Gamut, Objective, PixelL1, Style, Temporal, Term, TotalVariation, blend_grams
from vidstyle.model.style import build_style_targets
from vidstyle.model.runtime import Runtime
from vidstyle.model.stylizer import FrameProblem, Stylizer, TemporalTarget

CPU = torch.device("cpu")
CONTENT = ("relu2_2",)
STYLE = ("relu1_1", "relu2_1", "relu3_1")
LAYERS = tuple(dict.fromkeys(CONTENT + STYLE))
# Measured: the batched and one-image losses of these tests differ by at most
# about 3e-7 relative (float32 convolutions summed in another order for a
# batch); 1e-5 leaves room for other CPUs' kernels and still catches any term
# that mixes images (that changes a loss by percents).
BATCH_RTOL = 1e-5


@pytest.fixture(scope="module")
def model(random_weights: Path) -> ModelConfig:
    return ModelConfig(weights=random_weights, content_layers=CONTENT, style_layers=STYLE)


@pytest.fixture(scope="module")
def extractor(model: ModelConfig) -> FeatureExtractor:
    loaded, _ = load_extractor(model, device=CPU)
    return loaded


def smooth(seed: int, batch: int = 1, height: int = 32, width: int = 40) -> torch.Tensor:
    image = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.avg_pool2d(image, 3, stride=1, padding=1, count_include_pad=False)


def grams_of(extractor: FeatureExtractor, image: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        features = extractor(image, STYLE)
    return {name: gram_matrix(features[name]) for name in STYLE}


def objective_for(extractor: FeatureExtractor, content: torch.Tensor, previous: torch.Tensor, mask: torch.Tensor) -> Objective:
    with torch.no_grad():
        targets = extractor(content, CONTENT)
    return Objective(
        [
            Content(targets, weight=1.0),
            Style(grams_of(extractor, smooth(99)), {"relu1_1": 1.0, "relu2_1": 2.0, "relu3_1": 0.5}, weight=3.0),
            TotalVariation(weight=0.5),
            Temporal(previous, mask, weight=torch.tensor([2.0, 0.0, 7.0])[: content.shape[0]]),
        ]
    )


def test_each_image_of_a_batch_gets_the_loss_it_gets_alone(extractor: FeatureExtractor) -> None:
    images, contents, previous = smooth(1, 3), smooth(2, 3), smooth(3, 3)
    mask = (torch.rand(3, 1, 32, 40, generator=torch.Generator().manual_seed(4)) > 0.3).float()
    batch = objective_for(extractor, contents, previous, mask)
    with torch.no_grad():
        together = batch(images, extractor(images, batch.layers))
        for k in range(3):
            alone = objective_for(extractor, contents[k : k + 1], previous[k : k + 1], mask[k : k + 1])
            # The one-image objective's temporal weight is the first of the three; give it this image's.
            alone.terms[3].weight = batch.terms[3].weight[k : k + 1]  # type: ignore[attr-defined, index]
            single = alone(images[k : k + 1], extractor(images[k : k + 1], alone.layers))
            for name in ("content", "style", "tv", "temporal"):
                torch.testing.assert_close(together.terms[name][k : k + 1], single.terms[name], rtol=BATCH_RTOL, atol=0)
            torch.testing.assert_close(together.total[k : k + 1], single.total, rtol=BATCH_RTOL, atol=0)


def test_total_is_the_weighted_sum_of_the_named_terms(extractor: FeatureExtractor) -> None:
    images = smooth(5, 2)
    mask = torch.ones(2, 1, 32, 40)
    objective = objective_for(extractor, smooth(6, 2), smooth(7, 2), mask)
    with torch.no_grad():
        losses = objective(images, extractor(images, objective.layers))
    assert list(losses.terms) == ["content", "style", "tv", "temporal"]
    assert all(value.shape == (2,) and bool((value > 0).all()) for value in losses.terms.values())
    expected = sum(term.weight * losses.terms[term.name] for term in objective.terms)
    torch.testing.assert_close(losses.total, expected, rtol=1e-6, atol=0)
    # A per-image weight of 0 takes the term out of that image's total only.
    assert float(objective.terms[3].weight[1]) == 0.0  # type: ignore[index]


def test_a_gradient_step_lowers_every_images_loss(extractor: FeatureExtractor) -> None:
    image = smooth(8, 2).requires_grad_(True)
    objective = objective_for(extractor, smooth(9, 2), smooth(10, 2), torch.ones(2, 1, 32, 40))
    before = objective(image, extractor(image, objective.layers))
    before.total.sum().backward()
    assert image.grad is not None
    with torch.no_grad():
        # Per image, a step against its own gradient (normalised, so each image moves by the same amount).
        grad = image.grad / image.grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        stepped = image - 0.5 * grad
        after = objective(stepped, extractor(stepped, objective.layers))
    assert bool((after.total < before.total.detach()).all()), (before.total, after.total)


def test_a_new_term_is_one_object_added_to_the_list(extractor: FeatureExtractor) -> None:
    class Brightness(Term):
        """Mean pixel value, per image (a made-up term)."""

        name = "brightness"

        def __init__(self, weight: float) -> None:
            self.weight = weight

        def value(self, image: torch.Tensor, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
            return image.flatten(1).mean(1)

    images = smooth(11, 2)
    base = [TotalVariation(weight=1.0), PixelL1(torch.zeros_like(images), weight=2.0)]
    plain = Objective(base)(images)
    more = Objective([*base, Brightness(4.0)])(images)
    torch.testing.assert_close(more.terms["brightness"], images.flatten(1).mean(1))
    torch.testing.assert_close(more.total, plain.total + 4.0 * images.flatten(1).mean(1))
    # Pixel terms need no features; a feature term without them is refused, not silently zero.
    with pytest.raises(ValueError, match="features"):
        Objective([Content({"relu2_2": torch.zeros(1, 128, 16, 20)}, weight=1.0)])(images)
    with pytest.raises(ValueError, match="share a name"):
        Objective([TotalVariation(weight=1.0), TotalVariation(weight=2.0)])


def test_temporal_target_carries_a_gradient_only_when_asked() -> None:
    image = smooth(12).requires_grad_(True)
    for through, expect_grad in ((False, False), (True, True)):
        target = smooth(13).requires_grad_(True)
        loss = Objective([Temporal(target, torch.ones(1, 1, 32, 40), weight=1.0, through_target=through)])(image)
        loss.total.sum().backward()
        assert (target.grad is not None and bool(target.grad.abs().sum() > 0)) is expect_grad


def test_blended_style_targets_are_the_blend_of_each_styles_grams(extractor: FeatureExtractor, model: ModelConfig, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    paths = []
    for k in range(2):
        path = tmp_path / f"style{k}.png"
        cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8), (0, 0), 1.0 + k))
        paths.append(path)

    def targets(images: tuple[Path, ...], blend: tuple[float, ...] | None) -> dict[str, torch.Tensor]:
        style = StyleConfig(images=images, blend=blend)
        return build_style_targets(
            extractor, style, model, content_size=(40, 32), weights_identity="x", device=CPU, cache_dir=None
        ).grams

    each = [targets((path,), None) for path in paths]
    blended = targets(tuple(paths), (0.75, 0.25))
    expected = blend_grams(each, (0.75, 0.25))
    for name in STYLE:
        torch.testing.assert_close(blended[name], expected[name], rtol=1e-5, atol=0)
        torch.testing.assert_close(expected[name], 0.75 * each[0][name] + 0.25 * each[1][name], rtol=1e-6, atol=0)


def test_the_optimizer_losses_are_the_objective(extractor: FeatureExtractor, model: ModelConfig, tmp_path: Path) -> None:
    """Stylizer.losses (what the optimizer steps on) is the Objective of its settings, per image of a batch."""
    style_path = tmp_path / "style.png"
    cv2.imwrite(str(style_path), cv2.GaussianBlur(np.random.default_rng(5).integers(0, 256, (32, 40, 3), dtype=np.uint8), (0, 0), 1.0))
    style = build_style_targets(
        extractor, StyleConfig(images=(style_path,)), model, content_size=(40, 32), weights_identity="x", device=CPU, cache_dir=None
    )
    optimize = OptimizeConfig(content_weight=2.0, style_weight=5.0, tv_weight=0.25, gamut_weight=70.0)
    stylizer = Stylizer(extractor, style, model=model, optimize=optimize)
    contents, images = smooth(14, 2), smooth(15, 2)
    images = images * 2.0 - 0.5  # some values outside [0, 1], so the range penalty counts
    previous, mask = smooth(16, 2), torch.ones(2, 1, 32, 40)
    with torch.no_grad():
        targets = stylizer.content_targets(contents)
        got = stylizer.losses(images, targets, TemporalTarget(previous, mask, 3.0))
        objective = Objective(
            [
                Content(targets, weight=2.0),
                Style(style.grams, style.layer_weights, weight=5.0),
                TotalVariation(weight=0.25),
                Temporal(previous, mask, weight=3.0),
                Gamut(weight=70.0),
            ]
        )
        expected = objective(images, extractor(images, objective.layers))
        assert float(expected.terms["gamut"].min()) > 0
        for name in ("content", "style", "tv", "temporal", "gamut"):
            torch.testing.assert_close(got[name], expected.terms[name], rtol=1e-6, atol=0)
        torch.testing.assert_close(got["total"], expected.total, rtol=1e-6, atol=0)
        # Each image of the batch as it is alone.
        for k in range(2):
            alone = stylizer.losses(images[k : k + 1], stylizer.content_targets(contents[k : k + 1]), TemporalTarget(previous[k : k + 1], mask[k : k + 1], 3.0))
            torch.testing.assert_close(got["total"][k : k + 1], alone["total"], rtol=BATCH_RTOL, atol=0)


@pytest.mark.parametrize("compile", [False, True])
def test_a_batch_of_frames_starts_each_at_the_loss_it_has_alone(
    extractor: FeatureExtractor, model: ModelConfig, tmp_path: Path, compile: bool
) -> None:
    """--batch-chains (and --compile): the terms the optimizer records for each frame of a batch are its own.

    The first step's terms (StylizeResult.initial) are the objective at the
    starting image: no trajectory, so no rounding fork across CPUs.
    """
    if compile:
        optional_tool(any(shutil.which(c) for c in ("g++", "c++", "clang++")), "a C++ compiler (g++): torch.compile on the CPU builds C++")
    style_path = tmp_path / "style.png"
    cv2.imwrite(str(style_path), cv2.GaussianBlur(np.random.default_rng(6).integers(0, 256, (32, 40, 3), dtype=np.uint8), (0, 0), 1.0))
    style = build_style_targets(
        extractor, StyleConfig(images=(style_path,)), model, content_size=(40, 32), weights_identity="x", device=CPU, cache_dir=None
    )
    runtime = Runtime(device=CPU, precision=Precision.FP32, channels_last=False, compile=compile)
    stylizer = Stylizer(extractor, style, model=model, optimize=OptimizeConfig(), runtime=runtime)
    mask = torch.ones(1, 1, 32, 40)
    problems = [
        lambda: FrameProblem(content=smooth(20), init=smooth(21), budget=1),
        lambda: FrameProblem(content=smooth(22), init=smooth(23), budget=1, temporal=TemporalTarget(smooth(24), mask, 5.0)),
    ]
    batch = stylizer.batch(2, (40, 32))
    for make in problems:
        batch.add(make())
    together = dict(batch.step())
    for slot, make in enumerate(problems):
        problem = make()
        alone = stylizer.stylize(problem.content, init=problem.init, budget=1, temporal=problem.temporal)
        for name in ("content", "style", "tv", "temporal", "total"):
            got, want = getattr(together[slot].initial, name), getattr(alone.initial, name)
            assert got == pytest.approx(want, rel=BATCH_RTOL, abs=1e-12), (slot, name)
    assert together[1].initial.temporal > 0 and together[0].initial.temporal == 0
