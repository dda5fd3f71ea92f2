"""--network vgg16: paper layer names on configuration D, its weights, the mix-ups with VGG19 files, its cost.

Exact plumbing runs on a random VGG16 made at test time (conftest's
random_vgg16_weights); the real ImageNet VGG16 from ../shared/data is loaded
through the same --weights path when it is there.
"""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tests.mediatools import shared_data
from vidstyle.config import ModelConfig, Network, OptimizeConfig, Pooling, StyleConfig
from vidstyle.errors import UsageError, WeightsError
from vidstyle.model.build import build_core, load_extractor
from vidstyle.model.features import IMAGENET_MEAN, IMAGENET_STD, FeatureExtractor
from vidstyle.networks import architecture
from vidstyle.model.weights import WEIGHTS_ENV, default_cache_path, imagenet_weights, load_weights

VGG16, VGG19 = Network.VGG16, Network.VGG19
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def state16(random_vgg16_weights: Path) -> dict[str, torch.Tensor]:
    return torch.load(random_vgg16_weights, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def torchvision16(state16: dict[str, torch.Tensor]) -> nn.Sequential:
    """torchvision's own vgg16().features holding the same random tensors."""
    features = torchvision.models.vgg16(weights=None).features
    features.load_state_dict({key.removeprefix("features."): value for key, value in state16.items()})
    return features.eval()


def smooth_image(seed: int, height: int = 48, width: int = 64) -> torch.Tensor:
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))
    return nn.functional.avg_pool2d(image, 3, stride=1, padding=1)


# ------------------------------------------------------------------ layer names


def test_vgg16_names_sit_on_torchvision_modules_of_their_kind(torchvision16: nn.Sequential) -> None:
    vgg = architecture(VGG16)
    assert vgg.blocks == (2, 2, 3, 3, 3)
    assert len(vgg.names) == len(torchvision16) == 31
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, index in vgg.plan:
        assert isinstance(torchvision16[index], kinds[name[:4]]), name
    expected = {"conv1_1": 0, "relu1_2": 3, "pool1": 4, "conv3_3": 14, "pool3": 16, "conv4_1": 17, "relu4_2": 20,
                "pool4": 23, "relu5_1": 25, "relu5_3": 29, "pool5": 30}  # fmt: skip
    assert {name: vgg.index(name) for name in expected} == expected
    reference = {f"features.{key}": tuple(value.shape) for key, value in torchvision16.state_dict().items()}
    assert vgg.feature_shapes() == reference


@pytest.mark.parametrize("layer", ["relu5_4", "conv3_4", "RELU4_4"])
def test_layers_vgg16_lacks_are_named_with_its_range(layer: str) -> None:
    assert architecture(VGG19).canonical(layer) == layer.lower()  # they exist in VGG19
    with pytest.raises(UsageError) as caught:
        architecture(VGG16).canonical(layer)
    message = str(caught.value)
    assert f"Unknown VGG16 layer '{layer}'" in message and "conv1_1 ... relu5_3" in message
    # Settings refuse them at once, before anything is loaded.
    with pytest.raises(UsageError, match="relu5_3"):
        ModelConfig(network=VGG16, style_layers=("relu1_1", layer))
    with pytest.raises(UsageError, match="relu5_3"):
        ModelConfig(network=VGG16, content_layers=(layer,))
    assert ModelConfig(network=VGG19, style_layers=("relu1_1", layer)).style_layers[1] == layer


def test_library_callers_may_name_the_network_as_text() -> None:
    assert ModelConfig(network="vgg16").network is VGG16  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="Unknown network 'resnet50'; use one of vgg19, vgg16"):
        ModelConfig(network="resnet50")  # type: ignore[arg-type]


def test_default_layers_exist_in_both_networks() -> None:
    for network in Network:
        model = ModelConfig(network=network)
        vgg = architecture(network)
        assert all(vgg.canonical(name) for name in model.content_layers + model.style_layers)


# ------------------------------------------------------------------ the extractor on random VGG16 weights


@pytest.mark.parametrize("layer", ["relu1_1", "pool2", "relu3_3", "conv4_1", "relu4_2", "relu5_1", "relu5_3"])
def test_vgg16_outputs_match_torchvision(state16: dict[str, torch.Tensor], torchvision16: nn.Sequential, layer: str) -> None:
    extractor = FeatureExtractor(state16, network=VGG16, layers=["relu1_1", layer], pooling=Pooling.MAX)
    names = [name for name, _ in extractor.net.named_children()]
    assert names == list(architecture(VGG16).names[: architecture(VGG16).index(layer) + 1])  # truncated there
    assert all(not p.requires_grad for p in extractor.parameters())
    image = smooth_image(5)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = extractor(image)[layer]
        theirs = torchvision16[: architecture(VGG16).index(layer) + 1]((image - mean) / std)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


def test_random_vgg16_file_loads_through_the_weights_path(random_vgg16_weights: Path, state16: dict[str, torch.Tensor]) -> None:
    model = ModelConfig(network=VGG16, weights=random_vgg16_weights)
    extractor, loaded = load_extractor(model, device=CPU)
    assert loaded.network is VGG16 and loaded.path == random_vgg16_weights
    # Up to relu5_1 (conv5_1 is features.24): conv5_2 and conv5_3 are not loaded.
    assert set(loaded.state) == set(architecture(VGG16).feature_shapes("relu5_1"))
    assert "features.26.weight" not in loaded.state
    modules = dict(extractor.net.named_children())
    assert list(modules)[-1] == "relu5_1"
    assert torch.equal(modules["conv4_2"].weight, state16["features.19.weight"])
    assert torch.equal(modules["conv3_3"].bias, state16["features.14.bias"])


def test_whole_vgg16_file_with_classifier_and_bare_keys_load(tmp_path: Path, state16: dict[str, torch.Tensor]) -> None:
    whole = dict(state16)
    for index in (0, 3, 6):
        whole[f"classifier.{index}.weight"] = torch.zeros(4, 4)
        whole[f"classifier.{index}.bias"] = torch.zeros(4)
    torch.save(whole, tmp_path / "whole.pth")
    loaded = load_weights(tmp_path / "whole.pth", network=VGG16, deepest_layer="relu5_3")
    assert set(loaded.state) == set(state16)
    torch.save({key.removeprefix("features."): value for key, value in state16.items()}, tmp_path / "bare.pth")
    assert set(load_weights(tmp_path / "bare.pth", network=VGG16, deepest_layer="relu5_3").state) == set(state16)


# ------------------------------------------------------------------ the other network's file


def test_vgg19_file_with_vgg16_is_refused_naming_both(random_weights: Path) -> None:
    with pytest.raises(WeightsError) as caught:
        load_weights(random_weights, network=VGG16, deepest_layer="relu5_1")
    assert str(caught.value) == (
        f"{random_weights} holds VGG19 weights but --network vgg16 was chosen; pass --network vgg19 or a VGG16 file."
    )


def test_vgg16_file_with_vgg19_is_refused_naming_both(random_vgg16_weights: Path, tmp_path: Path, state16) -> None:  # noqa: ANN001
    with pytest.raises(WeightsError) as caught:
        load_weights(random_vgg16_weights, network=VGG19, deepest_layer="relu5_1")
    assert str(caught.value) == (
        f"{random_vgg16_weights} holds VGG16 weights but --network vgg19 was chosen; pass --network vgg16 or a VGG19 file."
    )
    # Also when only the layers up to relu4_1 are in the file (features.17 = VGG16's conv4_1 gives it away).
    shallow = {key: state16[key] for key in architecture(VGG16).feature_shapes("relu4_1")}
    torch.save(shallow, tmp_path / "shallow16.pth")
    with pytest.raises(WeightsError, match="holds VGG16 weights but --network vgg19"):
        load_weights(tmp_path / "shallow16.pth", network=VGG19, deepest_layer="relu3_1")


def test_a_file_of_neither_network_is_not_called_either(tmp_path: Path, state16: dict[str, torch.Tensor]) -> None:
    mixed = dict(state16)
    mixed["features.34.weight"] = torch.zeros(512, 512, 3, 3)  # only VGG19 has a conv at 34, only VGG16 at 24
    torch.save(mixed, tmp_path / "mixed.pth")
    for network in Network:
        with pytest.raises(WeightsError, match="unexpected entries") as caught:
            load_weights(tmp_path / "mixed.pth", network=network, deepest_layer="relu1_1")
        assert "holds" not in str(caught.value)


# ------------------------------------------------------------------ default download


def test_vgg16_default_comes_from_torchvisions_enum(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    published = imagenet_weights(VGG16)
    enum_url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    assert published.url == enum_url and enum_url.endswith("/" + published.file_name)
    assert published.sha256_prefix and published.sha256_prefix in published.file_name
    assert imagenet_weights(VGG19).url == torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
    assert default_cache_path(VGG16).name == published.file_name != default_cache_path(VGG19).name

    calls: list[str] = []

    def offline(url: str, *args: object, **kwargs: object) -> None:
        calls.append(url)
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError) as caught:
        load_weights(None, network=VGG16, deepest_layer="relu4_2")
    message = str(caught.value)
    assert calls == [enum_url]
    assert "VGG16 weights" in message and published.file_name in message
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in message
    assert "--weights" in message and WEIGHTS_ENV in message


# ------------------------------------------------------------------ cost


def _step_flops(network: Network, weights: Path, style: Path, size: tuple[int, int]) -> int:
    """FLOPs torch counts for one optimization step: the losses and the input-gradient backward."""
    core = build_core(
        ModelConfig(network=network, weights=weights), StyleConfig(images=(style,)), OptimizeConfig(),
        content_size=size, cache_dir=None, device=CPU,
    )  # fmt: skip
    content = smooth_image(9, size[1], size[0])
    targets = core.stylizer.content_targets(content)
    image = content.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        core.stylizer.losses(image, targets)["total"].backward()
    return counter.get_total_flops()


def test_a_vgg16_step_costs_about_a_fifth_less(random_weights: Path, random_vgg16_weights: Path, tmp_path: Path) -> None:
    import cv2
    import numpy as np

    style = tmp_path / "style.png"
    cv2.imwrite(str(style), np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    size = (128, 96)
    flops19 = _step_flops(VGG19, random_weights, style, size)
    flops16 = _step_flops(VGG16, random_vgg16_weights, style, size)
    ratio = flops16 / flops19
    print(f"\nstep FLOPs at {size[0]}x{size[1]}: vgg19 {flops19 / 1e9:.2f} G, vgg16 {flops16 / 1e9:.2f} G, ratio {ratio:.3f}")
    # From the layer shapes: conv1_1..conv5_1 multiply-adds per input pixel are
    # 361,152 (VGG19) and 287,424 (VGG16): 0.796. Grams and losses add little.
    assert 0.77 < ratio < 0.82


# ------------------------------------------------------------------ the real ImageNet VGG16


def test_shared_imagenet_vgg16_loads_through_the_weights_option() -> None:
    path = shared_data("weights", "vgg16_imagenet_features.pth")
    extractor, loaded = load_extractor(ModelConfig(network=VGG16, weights=path), device=CPU)
    assert loaded.path == path and len(loaded.identity) == 64
    assert [name for name, _ in extractor.net.named_children()][-1] == "relu5_1"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(dict(extractor.net.named_children())["conv5_1"].weight, raw["features.24.weight"])
    with torch.no_grad():
        features = extractor(smooth_image(3, 64, 64))
    assert features["relu4_2"].shape == (1, 512, 8, 8) and features["relu5_1"].shape == (1, 512, 4, 4)
    # The same file under the default network is the clear mix-up error.
    with pytest.raises(WeightsError, match="holds VGG16 weights but --network vgg19 was chosen"):
        load_weights(path, network=VGG19, deepest_layer="relu5_1")
