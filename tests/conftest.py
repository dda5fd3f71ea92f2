"""Shared fixtures: a randomly initialised VGG19 written to disk and loaded through the real --weights path.

The ImageNet weights cannot be downloaded in CI, and tests must never depend on
a download. Random weights exercise exactly the same code: loading, layer
naming, truncation, losses and optimization.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import torch
import torchvision
from typer.testing import CliRunner

from tests.mediatools import frame_image, shared_data


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A features-only VGG19 state dict (about 80 MB) with torchvision's random initialisation."""
    torch.manual_seed(1234)
    model = torchvision.models.vgg19(weights=None)
    state = {key: value for key, value in model.state_dict().items() if key.startswith("features.")}
    path = tmp_path_factory.mktemp("weights") / "vgg19_random_features.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="session")
def random_vgg16_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A features-only VGG16 state dict (about 59 MB), like random_weights but for --network vgg16."""
    torch.manual_seed(1616)
    model = torchvision.models.vgg16(weights=None)
    state = {key: value for key, value in model.state_dict().items() if key.startswith("features.")}
    path = tmp_path_factory.mktemp("weights16") / "vgg16_random_features.pth"
    torch.save(state, path)
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own style cache, ledger of written files and torch hub dir, so no test sees another's state or the user's."""
    cache = tmp_path / "vidstyle-cache"
    monkeypatch.setenv("VIDSTYLE_CACHE_DIR", str(cache))
    monkeypatch.setenv("VIDSTYLE_STATE_DIR", str(tmp_path / "vidstyle-written"))  # vidstyle/written.py
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("VIDSTYLE_WEIGHTS", raising=False)
    return cache


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Every test runs torch on one thread: tiny convolutions gain nothing from threads, and on a busy 2-core runner they lose a lot.

    VIDSTYLE_TEST_THREADS=N runs them on N threads instead, to check that no test depends on the thread count's rounding.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("VIDSTYLE_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(before)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI in process, with tracebacks off as a user has them."""
    monkeypatch.delenv("VIDSTYLE_DEBUG", raising=False)
    return CliRunner()


@pytest.fixture
def style(tmp_path: Path) -> Path:
    """A small synthetic style image (modules that need a real painting define their own ``style``)."""
    path = tmp_path / "style.png"
    assert cv2.imwrite(str(path), frame_image(7, (40, 40)))
    return path


@pytest.fixture
def marple8() -> Path:
    """The shared marple8 frames and their DeepFlow references (a skip without them, a failure under VIDSTYLE_REQUIRE_SHARED=1)."""
    shared_data("frames", "marple8", "marple8_05.ppm")
    shared_data("frames", "marple8", "deepflow", "forward_1_2.flo")
    return shared_data("frames", "marple8")
