"""Loss terms: Gram properties, zero at their targets, and invariance of the total to the feature scale."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidstyle.config import ModelConfig, OptimizeConfig, StyleConfig
from vidstyle.model.build import load_extractor
from vidstyle.model.features import FeatureExtractor
from vidstyle.model.losses import content_loss, gram_matrix, normalised_mse, out_of_gamut, style_loss, total_variation
from vidstyle.model.style import build_style_targets
from vidstyle.model.stylizer import Stylizer, TemporalTarget
from vidstyle.temporal.loss import temporal_loss

CPU = torch.device("cpu")
LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="module")
def model(random_weights: Path) -> ModelConfig:
    return ModelConfig(weights=random_weights, content_layers=("relu2_2",), style_layers=LAYERS)


@pytest.fixture(scope="module")
def shallow_extractor(model: ModelConfig) -> FeatureExtractor:
    extractor, _ = load_extractor(model, device=CPU)
    return extractor


def smooth(seed: int, height: int, width: int) -> torch.Tensor:
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.avg_pool2d(image, 3, stride=1, padding=1, count_include_pad=False)


# --- Gram matrices -----------------------------------------------------------


def test_gram_is_symmetric_and_positive_semidefinite() -> None:
    features = torch.randn(1, 24, 9, 7, generator=torch.Generator().manual_seed(0))
    gram = gram_matrix(features)
    assert gram.shape == (24, 24)
    torch.testing.assert_close(gram, gram.t())
    eigenvalues = torch.linalg.eigvalsh(gram.double())
    assert eigenvalues.min() >= -1e-5 * eigenvalues.max()
    # Rank is at most H*W: fewer pixels than channels gives zero eigenvalues, still PSD.
    thin = gram_matrix(torch.randn(1, 24, 2, 2, generator=torch.Generator().manual_seed(1)))
    eig = torch.linalg.eigvalsh(thin.double())
    assert eig.min() >= -1e-5 * eig.max()
    assert int((eig > 1e-6 * eig.max()).sum()) == 4


def test_gram_value_is_channel_correlation_over_map_size() -> None:
    features = torch.zeros(1, 2, 2, 2)
    features[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    features[0, 1] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = torch.tensor([[30.0, 5.0], [5.0, 2.0]]) / 4
    torch.testing.assert_close(gram_matrix(features), expected)


def test_gram_of_periodic_features_is_independent_of_tiling() -> None:
    tile = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(2))
    one = gram_matrix(tile)
    small = gram_matrix(tile.repeat(1, 1, 4, 4))
    large = gram_matrix(tile.repeat(1, 1, 8, 8))
    torch.testing.assert_close(small, one, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(large, small, rtol=1e-5, atol=1e-5)
    # Without the 1/(H*W) the larger tiling would be 4x larger.
    assert not torch.allclose(large * 4, small, rtol=0.1)


def test_gram_of_tiled_image_through_vgg_converges_with_size(shallow_extractor: FeatureExtractor) -> None:
    """Through the network a tiled image is not exactly periodic: zero padding changes the border responses.

    The border band has a fixed width (the receptive field) so its share of the
    map, and with it the Gram deviation, falls like 1/size. Measured with the
    random test weights (relative Frobenius error, 16 px tile):
        2x2 vs 4x4 tiles: relu1_1 0.025, relu2_1 0.091, relu3_1 0.23
        4x4 vs 8x8 tiles: relu1_1 0.013, relu2_1 0.045, relu3_1 0.11
    while a non-periodic image of the same size is off by more than 3.0.
    Tolerances are about twice the measured values; the halving is checked
    with margin (< 0.65x).
    """
    tile = smooth(3, 16, 16)
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        f2, f4, f8 = (shallow_extractor(tile.repeat(1, 1, n, n)) for n in (2, 4, 8))
        fn = shallow_extractor(noise)

    def deviation(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], layer: str) -> float:
        ga, gb = gram_matrix(a[layer]), gram_matrix(b[layer])
        return float((ga - gb).norm() / gb.norm())

    tolerance = {"relu1_1": 0.05, "relu2_1": 0.18, "relu3_1": 0.45}
    for layer in LAYERS:
        coarse, fine = deviation(f2, f4, layer), deviation(f4, f8, layer)
        assert coarse < tolerance[layer], (layer, coarse)
        assert fine < 0.65 * coarse, (layer, coarse, fine)
        assert deviation(fn, f4, layer) > 10 * coarse, layer


# --- every term is zero at its own target ------------------------------------


def test_losses_are_zero_at_their_targets() -> None:
    generator = torch.Generator().manual_seed(5)
    features = {"a": torch.rand(1, 8, 6, 6, generator=generator), "b": torch.rand(1, 4, 3, 3, generator=generator)}
    assert float(content_loss(features, features)) == 0.0
    grams = {name: gram_matrix(value) for name, value in features.items()}
    assert float(style_loss(features, grams, {"a": 1.0, "b": 3.0})) == pytest.approx(0.0, abs=1e-10)
    assert float(total_variation(torch.full((1, 3, 9, 7), 0.37))) == 0.0
    image = torch.rand(1, 3, 9, 7, generator=generator)
    assert float(temporal_loss(image, image.clone(), torch.ones(1, 1, 9, 7))) == 0.0


def test_losses_have_the_documented_values() -> None:
    generator = torch.Generator().manual_seed(6)
    target = torch.rand(1, 8, 5, 5, generator=generator) + 0.1
    # mean((2t - t)^2) / mean(t^2) = 1
    assert float(content_loss({"x": 2 * target}, {"x": target})) == pytest.approx(1.0, rel=1e-5)
    assert float(content_loss({"x": torch.zeros_like(target)}, {"x": target})) == pytest.approx(1.0, rel=1e-5)
    assert float(normalised_mse(target * 1.5, target)) == pytest.approx(0.25, rel=1e-5)
    # An all-zero target does not divide by zero: the error is then left unnormalised.
    assert float(normalised_mse(target, torch.zeros_like(target))) == pytest.approx(float(target.pow(2).mean()))
    # Tiny targets (random weights give mean Gram squares ~1e-8) are normalised like any other.
    tiny = target * 1e-5
    assert float(normalised_mse(2 * tiny, tiny)) == pytest.approx(1.0, rel=1e-4)

    checker = (torch.arange(6).view(1, 6) + torch.arange(6).view(6, 1)) % 2
    assert float(total_variation(checker.float().expand(1, 3, 6, 6))) == pytest.approx(2.0)
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 3, 4, 5) * 0.1
    assert float(total_variation(ramp)) == pytest.approx(0.01, rel=1e-5)

    # The range penalty: nothing for any storable image, the squared excess past 0 or 1 elsewhere, per image.
    inside = torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4), torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(6))])
    assert out_of_gamut(inside).tolist() == [0.0, 0.0, 0.0]
    outside = torch.full((2, 3, 4, 4), 0.5)
    outside[0, 0, 0, 0], outside[1, 2, 3, 3] = 1.5, -0.25
    torch.testing.assert_close(out_of_gamut(outside), torch.tensor([0.25, 0.0625]) / 48)

    image = torch.zeros(1, 3, 4, 4)
    warped = torch.full((1, 3, 4, 4), 0.5)
    assert float(temporal_loss(image, warped, torch.ones(1, 1, 4, 4))) == pytest.approx(0.25)
    half_mask = torch.zeros(1, 1, 4, 4)
    half_mask[..., :2] = 1.0
    assert float(temporal_loss(image, warped, half_mask)) == pytest.approx(0.125)
    assert float(temporal_loss(image, warped, torch.zeros(1, 1, 4, 4))) == 0.0


def test_style_layer_weights_are_relative() -> None:
    generator = torch.Generator().manual_seed(7)
    features = {"a": torch.rand(1, 4, 4, 4, generator=generator), "b": torch.rand(1, 4, 4, 4, generator=generator)}
    targets = {name: gram_matrix(torch.rand(1, 4, 4, 4, generator=generator)) for name in features}
    only_a = float(normalised_mse(gram_matrix(features["a"]), targets["a"]))
    assert float(style_loss(features, targets, {"a": 5.0, "b": 0.0})) == pytest.approx(only_a, rel=1e-6)
    same = float(style_loss(features, targets, {"a": 1.0, "b": 1.0}))
    assert float(style_loss(features, targets, {"a": 7.0, "b": 7.0})) == pytest.approx(same, rel=1e-6)


# --- the total does not depend on the scale of the features ------------------


def scaled(extractor: FeatureExtractor, factor: float) -> FeatureExtractor:
    """A copy of ``extractor`` whose every response is multiplied by ``factor``."""
    state = {
        f"features.{extractor.architecture.index(name)}.{param}": tensor
        for name, module in extractor.net.named_children()
        for param, tensor in module.named_parameters()
    }
    clone = FeatureExtractor(state, network=extractor.architecture.network, layers=extractor.layers)
    forward = clone.forward

    def scaled_forward(image: torch.Tensor, layers=None):  # noqa: ANN001, ANN202
        return {name: value * factor for name, value in forward(image, layers).items()}

    clone.forward = scaled_forward  # type: ignore[method-assign]
    return clone


def test_total_loss_is_invariant_to_feature_scale(
    shallow_extractor: FeatureExtractor, model: ModelConfig, tmp_path: Path
) -> None:
    style_path = tmp_path / "style.png"
    rng = np.random.default_rng(8)
    cv2.imwrite(str(style_path), cv2.GaussianBlur(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (0, 0), 1.2))
    style = StyleConfig(images=(style_path,))
    optimize = OptimizeConfig(content_weight=1.0, style_weight=10.0, tv_weight=0.5)
    content = smooth(9, 32, 48)
    image = smooth(10, 32, 48)
    temporal = TemporalTarget(image=smooth(11, 32, 48), mask=torch.ones(1, 1, 32, 48), weight=3.0)

    results = {}
    for factor in (1.0, 7.3):
        extractor = scaled(shallow_extractor, factor)
        targets = build_style_targets(
            extractor, style, model, content_size=(48, 32), weights_identity="x", device=CPU, cache_dir=None
        )
        stylizer = Stylizer(extractor, targets, model=model, optimize=optimize)
        with torch.no_grad():
            terms = stylizer.losses(image, stylizer.content_targets(content), temporal)
        results[factor] = ({k: float(v) for k, v in terms.items()}, targets, extractor(image))

    base, base_targets, base_features = results[1.0]
    big, big_targets, big_features = results[7.3]
    # The scaling really reached the features and the Gram targets ...
    torch.testing.assert_close(big_features["relu2_2"], 7.3 * base_features["relu2_2"], rtol=1e-5, atol=0)
    torch.testing.assert_close(big_targets.grams["relu3_1"], 7.3**2 * base_targets.grams["relu3_1"], rtol=1e-4, atol=0)
    # ... yet no term moved.
    assert base["content"] > 0 and base["style"] > 0 and base["tv"] > 0 and base["temporal"] > 0
    for name in ("content", "style", "tv", "temporal", "total"):
        assert big[name] == pytest.approx(base[name], rel=1e-5), name
    expected_total = base["content"] + 10.0 * base["style"] + 0.5 * base["tv"] + 3.0 * base["temporal"]
    assert base["total"] == pytest.approx(expected_total, rel=1e-6)
