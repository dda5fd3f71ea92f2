"""VGG19 feature extractor: paper layer names, truncation, freezing, agreement with torchvision.

VGG16 has its own file (test_vgg16.py); these run on VGG19, the default network.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from vidstyle.config import Network, Padding, Pooling
from vidstyle.errors import UsageError
from vidstyle.model.features import IMAGENET_MEAN, IMAGENET_STD, FeatureExtractor, PowerMeanPool2d, pad_edges
from vidstyle.networks import architecture

VGG19 = architecture(Network.VGG19)
LAYER_NAMES = VGG19.names
canonical_layer = VGG19.canonical
torchvision_index = VGG19.index
expected_feature_shapes = VGG19.feature_shapes


def extractor_of(state: dict[str, torch.Tensor], layers: list[str], **options: object) -> FeatureExtractor:
    return FeatureExtractor(state, network=Network.VGG19, layers=layers, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def state(random_weights: Path) -> dict[str, torch.Tensor]:
    return torch.load(random_weights, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def torchvision_features(state: dict[str, torch.Tensor]) -> nn.Sequential:
    """torchvision's own vgg19().features (max pooling) holding the same tensors."""
    features = torchvision.models.vgg19(weights=None).features
    features.load_state_dict({key.removeprefix("features."): value for key, value in state.items()})
    return features.eval()


def smooth_image(seed: int, height: int = 48, width: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, height, width, generator=generator)
    return nn.functional.avg_pool2d(image, 3, stride=1, padding=1)


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("conv1_1", 0),
        ("relu1_1", 1),
        ("conv1_2", 2),
        ("relu1_2", 3),
        ("pool1", 4),
        ("conv2_1", 5),
        ("relu2_1", 6),
        ("pool2", 9),
        ("conv3_1", 10),
        ("relu3_1", 11),
        ("relu3_4", 17),
        ("pool3", 18),
        ("conv4_1", 19),
        ("relu4_1", 20),
        ("conv4_2", 21),
        ("relu4_2", 22),
        ("pool4", 27),
        ("conv5_1", 28),
        ("relu5_1", 29),
        ("relu5_4", 35),
        ("pool5", 36),
    ],
)
def test_layer_names_map_to_torchvision_indices(name: str, index: int) -> None:
    assert torchvision_index(name) == index


def test_layer_plan_matches_torchvision_module_types(torchvision_features: nn.Sequential) -> None:
    """Every paper name sits on a torchvision module of the matching kind, all 37 of them."""
    reference = torchvision_features
    assert len(LAYER_NAMES) == len(reference) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name in LAYER_NAMES:
        module = reference[torchvision_index(name)]
        assert isinstance(module, kinds[name[:4]]), name


def test_expected_shapes_match_torchvision_state_dict(torchvision_features: nn.Sequential) -> None:
    reference = {f"features.{key}": tuple(value.shape) for key, value in torchvision_features.state_dict().items()}
    assert expected_feature_shapes() == reference
    upto = expected_feature_shapes("relu3_1")
    assert set(upto) == {f"features.{i}.{p}" for i in (0, 2, 5, 7, 10) for p in ("weight", "bias")}


def test_layer_names_are_case_insensitive_and_unknown_names_raise() -> None:
    assert canonical_layer(" ReLU4_2 ") == "relu4_2"
    for bad in ("relu6_1", "conv1_3", "fc7", "relu4-2", ""):
        with pytest.raises(UsageError, match=r"Unknown VGG19 layer .*conv1_1 \.\.\. relu5_4"):
            canonical_layer(bad)


def test_unknown_layer_in_extractor_raises(state: dict[str, torch.Tensor]) -> None:
    with pytest.raises(UsageError):
        extractor_of(state, ["relu1_1", "relu9_9"])
    with pytest.raises(UsageError):
        extractor_of(state, [])


def test_unknown_layer_in_forward_raises(state: dict[str, torch.Tensor]) -> None:
    extractor = extractor_of(state, ["relu2_1"])
    with pytest.raises(UsageError):
        extractor(smooth_image(0, 16, 16), ["bogus"])


@pytest.mark.parametrize("deepest", ["relu1_1", "conv3_1", "relu4_2", "pool5"])
def test_truncated_after_deepest_requested_layer(state: dict[str, torch.Tensor], deepest: str) -> None:
    extractor = extractor_of(state, ["relu1_1", deepest])
    names = [name for name, _ in extractor.net.named_children()]
    assert names[-1] == deepest
    assert names == list(LAYER_NAMES[: torchvision_index(deepest) + 1])
    assert extractor.layers == tuple(sorted({"relu1_1", deepest}, key=torchvision_index))


def test_truncation_drops_unneeded_parameters(state: dict[str, torch.Tensor]) -> None:
    extractor = extractor_of(state, ["relu2_1"])
    convs = [m for m in extractor.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3  # conv1_1, conv1_2, conv2_1


def test_frozen_and_stays_in_eval_mode(state: dict[str, torch.Tensor]) -> None:
    extractor = extractor_of(state, ["relu3_1"])
    params = list(extractor.parameters())
    assert params and all(not p.requires_grad for p in params)
    assert not extractor.training
    extractor.train()
    assert not extractor.training
    assert all(not module.training for module in extractor.modules())
    extractor.train(True)
    assert not extractor.training


def test_gradient_flows_to_input_not_weights(state: dict[str, torch.Tensor]) -> None:
    extractor = extractor_of(state, ["relu2_1"])
    image = smooth_image(1, 16, 16).requires_grad_(True)
    extractor(image)["relu2_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in extractor.parameters())


def test_weights_are_copied_from_state(state: dict[str, torch.Tensor]) -> None:
    extractor = extractor_of(state, ["relu4_2"])
    modules = dict(extractor.net.named_children())
    assert torch.equal(modules["conv4_2"].weight, state["features.21.weight"])
    assert torch.equal(modules["conv1_1"].bias, state["features.0.bias"])


@pytest.mark.parametrize("layer", ["relu1_1", "conv2_2", "relu3_1", "pool3", "relu4_2", "conv5_1"])
def test_outputs_match_torchvision_with_max_pooling(
    state: dict[str, torch.Tensor], torchvision_features: nn.Sequential, layer: str
) -> None:
    """Same tensors, same input: our named response equals torchvision's module output at that index.

    Proves both the name -> index mapping and that the extractor applies the
    ImageNet normalisation itself (the reference gets the normalised input).
    """
    image = smooth_image(2)
    extractor = extractor_of(state, [layer], pooling=Pooling.MAX)
    with torch.no_grad():
        ours = extractor(image)[layer]
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        theirs = torchvision_features[: torchvision_index(layer) + 1]((image - mean) / std)
        unnormalised = torchvision_features[: torchvision_index(layer) + 1](image)
    assert ours.shape == theirs.shape
    scale = theirs.abs().max()
    assert scale > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(scale))
    # Not matching the unnormalised input shows the normalisation is really applied.
    assert (ours - unnormalised).abs().max() > 1e-2 * scale


def test_forward_returns_only_requested_layers(state: dict[str, torch.Tensor]) -> None:
    extractor = extractor_of(state, ["relu1_1", "relu2_1", "relu3_1"])
    image = smooth_image(3, 32, 32)
    assert set(extractor(image)) == {"relu1_1", "relu2_1", "relu3_1"}
    subset = extractor(image, ["RELU2_1"])
    assert set(subset) == {"relu2_1"}
    assert subset["relu2_1"].shape == (1, 128, 16, 16)


def test_passes_count_images(state: dict[str, torch.Tensor]) -> None:
    extractor = extractor_of(state, ["relu1_1"])
    assert extractor.passes == 0
    extractor(torch.rand(1, 3, 8, 8))
    extractor(torch.rand(3, 3, 8, 8))
    assert extractor.passes == 4


def test_avg_pooling_changes_deeper_layers_only(state: dict[str, torch.Tensor]) -> None:
    layers = ["relu1_1", "relu1_2", "pool1", "relu2_1", "relu4_2"]
    avg = extractor_of(state, layers, pooling=Pooling.AVG)
    mx = extractor_of(state, layers, pooling=Pooling.MAX)
    assert isinstance(dict(avg.net.named_children())["pool1"], nn.AvgPool2d)
    assert isinstance(dict(mx.net.named_children())["pool1"], nn.MaxPool2d)
    image = smooth_image(4)
    with torch.no_grad():
        a, m = avg(image), mx(image)
    # Before the first pooling the two networks are the same network.
    assert torch.equal(a["relu1_1"], m["relu1_1"])
    assert torch.equal(a["relu1_2"], m["relu1_2"])
    for name in ("pool1", "relu2_1", "relu4_2"):
        assert a[name].shape == m[name].shape
        assert (a[name] - m[name]).abs().max() > 1e-3 * m[name].abs().max(), name
    # Max pooling dominates average pooling elementwise.
    assert torch.all(m["pool1"] >= a["pool1"] - 1e-6)


def test_replicate_padding_on_the_first_conv_sees_no_edge(state: dict[str, torch.Tensor]) -> None:
    """A flat image has no edges; zero padding makes conv1_1 see one all around it, replicate padding does not.

    That seen edge is what the optimizer answers by painting a line along the
    frame's border (model/features.py). With REPLICATE_FIRST only conv1_1
    changes; REPLICATE pads every conv by replication.
    """
    flat = torch.full((1, 3, 24, 32), 0.3)
    layers = ["conv1_1", "relu3_1"]
    responses = {
        padding: extractor_of(state, layers, padding=padding)(flat) for padding in (Padding.ZERO, Padding.REPLICATE_FIRST, Padding.REPLICATE)
    }

    def spread(features: torch.Tensor) -> float:
        """Largest deviation of any position from the map's centre response."""
        centre = features[:, :, features.shape[2] // 2, features.shape[3] // 2][:, :, None, None]
        return float((features - centre).abs().max() / features.abs().max())

    assert spread(responses[Padding.ZERO]["conv1_1"]) > 0.05
    assert spread(responses[Padding.REPLICATE_FIRST]["conv1_1"]) < 1e-5
    assert spread(responses[Padding.REPLICATE_FIRST]["relu3_1"]) > 0.05  # deeper convs still pad with zeros
    assert spread(responses[Padding.REPLICATE]["relu3_1"]) < 1e-4
    # Away from the border the three agree: only the edge treatment differs.
    inner = responses[Padding.ZERO]["conv1_1"][:, :, 1:-1, 1:-1]
    torch.testing.assert_close(responses[Padding.REPLICATE_FIRST]["conv1_1"][:, :, 1:-1, 1:-1], inner)


@pytest.mark.parametrize("edge", ["replicate", "reflect"])
def test_edge_padding_is_torchs_padding_in_either_memory_layout(edge: str) -> None:
    image = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    expected = nn.functional.pad(image, (1, 1, 1, 1), mode=edge)
    assert torch.equal(pad_edges(image, edge), expected)
    assert torch.equal(pad_edges(image.contiguous(memory_format=torch.channels_last), edge), expected)


@pytest.mark.parametrize("exponent", [2.0, 3.0, 4.0])
def test_power_pooling_lies_between_average_and_max(exponent: float) -> None:
    """Each window's power mean is at least its mean and at most its maximum, and grows toward the maximum with p."""
    generator = torch.Generator().manual_seed(5)
    x = torch.relu(torch.randn(2, 16, 12, 10, generator=generator, dtype=torch.float64))
    power = PowerMeanPool2d(exponent)(x)
    avg, mx = nn.functional.avg_pool2d(x, 2, 2), nn.functional.max_pool2d(x, 2, 2)
    assert power.shape == avg.shape
    assert bool((power >= avg - 1e-12).all()) and bool((power <= mx + 1e-12).all())
    torch.testing.assert_close(power, nn.functional.avg_pool2d(x.pow(exponent), 2, 2).pow(1 / exponent))
    stronger = PowerMeanPool2d(exponent + 2)(x)
    assert bool((stronger >= power - 1e-12).all())
    assert float((mx - stronger).abs().mean()) < float((mx - power).abs().mean())


def test_power_pooling_has_finite_gradients_on_all_zero_windows(state: dict[str, torch.Tensor]) -> None:
    """ReLU maps are full of all-zero windows: the power mean's root has an infinite slope at 0 and must not give NaN."""
    x = torch.zeros(1, 4, 8, 8)
    x[0, 0, :2, :2] = torch.tensor([[3.0, 0.0], [1.0, 0.0]])
    x[0, 1, 4:6, 4:6] = 1e-30  # a window far below float32's smallest normal
    x.requires_grad_(True)
    out = PowerMeanPool2d(3.0)(x)
    out.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert float(out.detach()[0, 2:].abs().max()) == 0.0  # an all-zero window pools to 0
    assert float(x.grad[0, 0, 0, 0]) > float(x.grad[0, 0, 1, 0]) > 0  # spread, weighted toward the strong input
    # Through the whole network from a flat image (every window of relu1_2 zero somewhere):
    extractor = extractor_of(state, ["relu3_1", "relu5_1"], pooling=Pooling.POWER)
    image = torch.full((1, 3, 32, 32), 0.5, requires_grad=True)
    responses = extractor(image)
    sum(r.pow(2).mean() for r in responses.values()).backward()
    assert image.grad is not None and bool(torch.isfinite(image.grad).all())
    assert isinstance(dict(extractor.net.named_children())["pool1"], PowerMeanPool2d)
