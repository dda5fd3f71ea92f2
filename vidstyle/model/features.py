"""VGG19 feature extractor with layers named as in the paper.

torchvision's ``vgg19().features`` is a flat ``nn.Sequential``; we rebuild it
under the names the literature uses (conv1_1, relu1_1, pool1, ...), truncate it
right after the deepest layer any loss reads, and freeze it. Inputs are RGB in
[0, 1]; the ImageNet normalisation the weights were trained with happens here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from vidstyle.config import Pooling
from vidstyle.errors import UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Convolutions per block in VGG19 (Simonyan & Zisserman, configuration E).
_BLOCKS = (2, 2, 4, 4, 4)
_CHANNELS = (64, 128, 256, 512, 512)


def _layer_plan() -> list[tuple[str, int]]:
    """(paper name, index in torchvision's vgg19().features) for every layer."""
    plan: list[tuple[str, int]] = []
    index = 0
    for block, convs in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            plan.append((f"conv{block}_{conv}", index))
            plan.append((f"relu{block}_{conv}", index + 1))
            index += 2
        plan.append((f"pool{block}", index))
        index += 1
    return plan


LAYER_PLAN = _layer_plan()
LAYER_NAMES = tuple(name for name, _ in LAYER_PLAN)
_TORCHVISION_INDEX = dict(LAYER_PLAN)


def canonical_layer(name: str) -> str:
    """Validate a layer name; accepts conv and relu names (case-insensitive)."""
    lowered = name.strip().lower()
    if lowered not in _TORCHVISION_INDEX:
        raise UsageError(f"Unknown VGG19 layer '{name}'; use names like conv4_2 or relu1_1 (conv1_1 ... relu5_4).")
    return lowered


def torchvision_index(name: str) -> int:
    return _TORCHVISION_INDEX[canonical_layer(name)]


def expected_feature_shapes(deepest: str | None = None) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of torchvision's vgg19 ``features.*`` keys, up to a layer."""
    shapes: dict[str, tuple[int, ...]] = {}
    in_channels = 3
    last = torchvision_index(deepest) if deepest else len(LAYER_PLAN)
    for block, convs in enumerate(_BLOCKS):
        out_channels = _CHANNELS[block]
        for conv in range(1, convs + 1):
            index = torchvision_index(f"conv{block + 1}_{conv}")
            if index <= last:
                shapes[f"features.{index}.weight"] = (out_channels, in_channels, 3, 3)
                shapes[f"features.{index}.bias"] = (out_channels,)
            in_channels = out_channels
    return shapes


class FeatureExtractor(nn.Module):
    """Frozen, truncated VGG19 returning the named responses it is asked for."""

    def __init__(
        self,
        state: dict[str, torch.Tensor],
        *,
        layers: Iterable[str],
        pooling: Pooling = Pooling.AVG,
    ) -> None:
        super().__init__()
        wanted = {canonical_layer(name) for name in layers}
        if not wanted:
            raise UsageError("The feature extractor needs at least one layer.")
        deepest = max(wanted, key=torchvision_index)
        self.layers = tuple(sorted(wanted, key=torchvision_index))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        modules: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 3
        for name, index in LAYER_PLAN:
            if name.startswith("conv"):
                block = int(name[4]) - 1
                conv = nn.Conv2d(in_channels, _CHANNELS[block], kernel_size=3, padding=1)
                conv.weight.data.copy_(state[f"features.{index}.weight"])
                conv.bias.data.copy_(state[f"features.{index}.bias"])
                modules[name] = conv
                in_channels = _CHANNELS[block]
            elif name.startswith("relu"):
                # Not in place: the conv response may itself be a requested layer.
                modules[name] = nn.ReLU(inplace=False)
            elif pooling is Pooling.AVG:
                modules[name] = nn.AvgPool2d(kernel_size=2, stride=2)
            else:
                modules[name] = nn.MaxPool2d(kernel_size=2, stride=2)
            if name == deepest:
                break
        self.net = nn.Sequential(modules)
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        # How many images went through the network, for tests and stats.
        self.passes = 0

    def forward(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Responses of ``layers`` (default: all configured) for an RGB [0, 1] batch."""
        wanted = set(self.layers if layers is None else (canonical_layer(n) for n in layers))
        self.passes += image.shape[0]
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for name, module in self.net.named_children():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out

    def train(self, mode: bool = True) -> "FeatureExtractor":
        # The network is frozen: keep it in eval mode whatever callers ask.
        return super().train(False)
