"""Finding and loading VGG19 weights: accepted layouts, helpful errors, no pickled code."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from vidstyle.config import Network
from vidstyle.errors import WeightsError
from vidstyle.networks import architecture
from vidstyle.model.weights import (
    WEIGHTS_ENV,
    default_cache_path,
    file_identity,
    imagenet_weights,
    load_weights,
    resolve_weights_path,
)

# These tests are about VGG19 files; test_vgg16.py covers the other network and the mix-ups.
VGG19 = Network.VGG19
expected_feature_shapes = architecture(VGG19).feature_shapes
IMAGENET_FILE = imagenet_weights(VGG19).file_name


@pytest.fixture(scope="module")
def full_state(random_weights: Path) -> dict[str, torch.Tensor]:
    return torch.load(random_weights, map_location="cpu", weights_only=True)


def shallow(state: dict[str, torch.Tensor], deepest: str = "relu2_1") -> dict[str, torch.Tensor]:
    """Only the tensors up to ``deepest``: small files for the error-path tests."""
    return {key: state[key].clone() for key in expected_feature_shapes(deepest)}


def save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def test_random_features_only_file_loads(random_weights: Path, full_state: dict[str, torch.Tensor]) -> None:
    loaded = load_weights(random_weights, network=VGG19, deepest_layer="relu5_1")
    assert loaded.path == random_weights
    assert set(loaded.state) == set(expected_feature_shapes("relu5_1"))
    assert "features.34.weight" not in loaded.state  # conv5_4 is beyond relu5_1
    for key, value in loaded.state.items():
        assert value.dtype == torch.float32
        assert torch.equal(value, full_state[key])
    assert len(loaded.identity) == 64


def test_only_tensors_up_to_deepest_layer_are_kept(random_weights: Path) -> None:
    loaded = load_weights(random_weights, network=VGG19, deepest_layer="relu1_2")
    assert set(loaded.state) == {"features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias"}


def test_whole_vgg19_file_with_classifier_loads(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    # A whole torchvision vgg19 state dict, with the classifier shrunk to dummy
    # tensors (the real ones are ~500 MB; the loader ignores them anyway).
    whole = dict(full_state)
    for index in (0, 3, 6):
        whole[f"classifier.{index}.weight"] = torch.zeros(4, 4)
        whole[f"classifier.{index}.bias"] = torch.zeros(4)
    path = save(whole, tmp_path / "vgg19-whole.pth")
    loaded = load_weights(path, network=VGG19, deepest_layer="relu5_4")
    assert not any(key.startswith("classifier.") for key in loaded.state)
    assert set(loaded.state) == set(expected_feature_shapes())
    assert torch.equal(loaded.state["features.34.weight"], full_state["features.34.weight"])


def test_bare_index_keys_load(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    bare = {key.removeprefix("features."): value for key, value in shallow(full_state).items()}
    assert "0.weight" in bare
    loaded = load_weights(save(bare, tmp_path / "bare.pth"), network=VGG19, deepest_layer="relu2_1")
    assert set(loaded.state) == set(expected_feature_shapes("relu2_1"))
    assert torch.equal(loaded.state["features.5.weight"], full_state["features.5.weight"])


def test_half_precision_is_converted_to_float(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    half = {key: value.half() for key, value in shallow(full_state, "relu1_1").items()}
    loaded = load_weights(save(half, tmp_path / "half.pth"), network=VGG19, deepest_layer="relu1_1")
    assert loaded.state["features.0.weight"].dtype == torch.float32


def test_missing_tensor_is_named(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    state = shallow(full_state, "relu2_1")
    del state["features.5.bias"]
    path = save(state, tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match=r"missing VGG19 tensors features\.5\.bias"):
        load_weights(path, network=VGG19, deepest_layer="relu2_1")
    # The same file is enough for a shallower network.
    assert load_weights(path, network=VGG19, deepest_layer="relu1_2").state


def test_asking_deeper_than_the_file_holds_is_an_error(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    path = save(shallow(full_state, "relu2_1"), tmp_path / "shallow.pth")
    with pytest.raises(WeightsError, match=r"features\.10\.weight"):
        load_weights(path, network=VGG19, deepest_layer="relu3_1")


def test_wrong_shape_is_named_with_both_shapes(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    state = shallow(full_state, "relu2_1")
    state["features.2.weight"] = torch.zeros(32, 64, 3, 3)
    path = save(state, tmp_path / "wrong-shape.pth")
    with pytest.raises(WeightsError) as caught:
        load_weights(path, network=VGG19, deepest_layer="relu2_1")
    message = str(caught.value)
    assert "features.2.weight" in message
    assert "(32, 64, 3, 3)" in message
    assert "(64, 64, 3, 3)" in message


@pytest.mark.parametrize("extra_key", ["features.99.weight", "encoder.0.weight", "features.1.weight"])
def test_unknown_key_is_refused(tmp_path: Path, full_state: dict[str, torch.Tensor], extra_key: str) -> None:
    # features.1 is a ReLU: it has no parameters in a real vgg19.
    state = shallow(full_state, "relu1_1")
    state[extra_key] = torch.zeros(3)
    with pytest.raises(WeightsError, match="unexpected entries") as caught:
        load_weights(save(state, tmp_path / "extra.pth"), network=VGG19, deepest_layer="relu1_1")
    assert extra_key.removeprefix("features.") in str(caught.value)


def test_non_tensor_value_is_refused(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    state: dict[str, object] = dict(shallow(full_state, "relu1_1"))
    state["epoch"] = 3
    with pytest.raises(WeightsError, match="epoch"):
        load_weights(save(state, tmp_path / "checkpoint.pth"), network=VGG19, deepest_layer="relu1_1")


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("these are not the weights you are looking for\n")
    with pytest.raises(WeightsError, match="Could not read"):
        load_weights(path, network=VGG19, deepest_layer="relu1_1")


def test_tensor_instead_of_dict_is_refused(tmp_path: Path) -> None:
    path = save(torch.zeros(3), tmp_path / "tensor.pth")
    with pytest.raises(WeightsError, match="not a state dict"):
        load_weights(path, network=VGG19, deepest_layer="relu1_1")


def _create_marker(path: str) -> dict:
    Path(path).write_text("code ran")
    return {}


class _Payload:
    """Unpickling this calls _create_marker: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (_create_marker, (str(self.marker),))


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = save({"features.0.weight": _Payload(marker)}, tmp_path / "evil.pth")
    assert not marker.exists()
    with pytest.raises(WeightsError):
        load_weights(path, network=VGG19, deepest_layer="relu1_1")
    assert not marker.exists()
    # The payload is live: an unsafe load would have run it.
    torch.load(path, weights_only=False)
    assert marker.read_text() == "code ran"


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "vgg19.pth"
    with pytest.raises(WeightsError, match="not found") as caught:
        load_weights(path, network=VGG19, deepest_layer="relu1_1")
    assert str(path) in str(caught.value)
    with pytest.raises(WeightsError):
        load_weights(tmp_path, network=VGG19, deepest_layer="relu1_1")  # a directory is not a weights file


def test_offline_default_names_cache_file_and_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def offline(url: str, *args: object, **kwargs: object) -> None:
        calls.append(url)
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError) as caught:
        load_weights(None, network=VGG19, deepest_layer="relu4_2")
    message = str(caught.value)
    cache_dir = tmp_path / "torch-home" / "hub" / "checkpoints"  # TORCH_HOME from the isolated_cache fixture
    assert str(cache_dir) in message
    assert IMAGENET_FILE in message
    assert "--weights" in message
    assert WEIGHTS_ENV in message
    assert "URLError" in message
    assert calls == [imagenet_weights(Network.VGG19).url]
    assert IMAGENET_FILE in calls[0]


def test_default_path_uses_file_already_in_cache(
    random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("downloaded although the file was cached")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", must_not_download)
    target = default_cache_path(VGG19)
    assert target == tmp_path / "torch-home" / "hub" / "checkpoints" / IMAGENET_FILE
    target.parent.mkdir(parents=True)
    shutil.copyfile(random_weights, target)
    loaded = load_weights(None, network=VGG19, deepest_layer="relu2_1")
    assert loaded.path == target


def test_default_path_after_download(random_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_download(url: str, *args: object, **kwargs: object) -> None:
        target = default_cache_path(VGG19)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(random_weights, target)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    assert load_weights(None, network=VGG19, deepest_layer="relu1_1").path == default_cache_path(VGG19)


def test_download_that_leaves_no_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: {})
    with pytest.raises(WeightsError, match="--weights"):
        load_weights(None, network=VGG19, deepest_layer="relu1_1")


def test_env_var_is_honoured(random_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("download attempted"))
    monkeypatch.setenv(WEIGHTS_ENV, str(random_weights))
    assert resolve_weights_path(None) == random_weights
    assert load_weights(None, network=VGG19, deepest_layer="relu1_1").path == random_weights
    # An explicit --weights wins over the variable.
    other = tmp_path / "other.pth"
    assert resolve_weights_path(other) == other
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(WeightsError, match="gone.pth"):
        load_weights(None, network=VGG19, deepest_layer="relu1_1")


def test_identity_depends_on_content_only(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    state = shallow(full_state, "relu1_1")
    first = save(state, tmp_path / "a.pth")
    copy = tmp_path / "b.pth"
    shutil.copyfile(first, copy)
    changed_state = {key: value.clone() for key, value in state.items()}
    changed_state["features.0.bias"][0] += 1.0
    changed = save(changed_state, tmp_path / "c.pth")

    a1 = load_weights(first, network=VGG19, deepest_layer="relu1_1").identity
    a2 = load_weights(first, network=VGG19, deepest_layer="relu1_1").identity
    assert a1 == a2 == file_identity(first)
    assert load_weights(copy, network=VGG19, deepest_layer="relu1_1").identity == a1
    assert load_weights(changed, network=VGG19, deepest_layer="relu1_1").identity != a1
