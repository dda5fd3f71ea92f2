"""The feature extractor: a frozen, truncated VGG19 or VGG16 whose responses are named as in the paper.

torchvision's ``features`` Sequential is rebuilt under the names the
literature uses (conv1_1, relu1_1, pool1, ...; see networks.py), truncated
right after the deepest layer any loss reads, and frozen. Inputs are RGB in
[0, 1]; the ImageNet normalisation the weights were trained with happens here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from vidstyle.config import Network, Padding, Pooling
from vidstyle.errors import UsageError
from vidstyle.networks import CHANNELS, VggArchitecture, architecture

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# What a conv sees past the edge under each padding ("zeros", "replicate" or "reflect"); the *_FIRST ones only in conv1_1.
_EDGE = {Padding.ZERO: "zeros", Padding.REPLICATE_FIRST: "replicate", Padding.REPLICATE: "replicate",
         Padding.REFLECT_FIRST: "reflect", Padding.REFLECT: "reflect"}  # fmt: skip
_EVERY_CONV = (Padding.REPLICATE, Padding.REFLECT)

# --pooling power's exponent: 1 would be average pooling, infinity max pooling (docs/defaults.md says how it was chosen).
POWER_EXPONENT = 3.0


def pad_edges(x: torch.Tensor, edge: str) -> torch.Tensor:
    """``x`` (B, C, H, W) one pixel larger on every side: its edge rows and columns repeated, or mirrored past them.

    Built from slices and a concatenation rather than F.pad: torch.compile's
    inductor checks replication_pad2d_backward's output against its meta
    kernel, and on the CPU the kernel returned channels-last strides where the
    meta kernel promised NCHW, so --compile failed with an assertion; slices
    and cat differentiate and compile like any other op, in either layout. The values are F.pad's
    ("replicate" / "reflect"), corners included.
    """
    if edge == "replicate":
        rows, cols = (slice(0, 1), slice(-1, None)), (slice(0, 1), slice(-1, None))
    else:
        rows, cols = (slice(1, 2), slice(-2, -1)), (slice(1, 2), slice(-2, -1))
    x = torch.cat([x[..., rows[0], :], x, x[..., rows[1], :]], dim=-2)
    return torch.cat([x[..., cols[0]], x, x[..., cols[1]]], dim=-1)


class EdgeConv2d(nn.Conv2d):
    """A 3x3 convolution that pads its input by :func:`pad_edges` instead of zeros."""

    def __init__(self, in_channels: int, out_channels: int, *, edge: str) -> None:
        super().__init__(in_channels, out_channels, kernel_size=3, padding=0)
        self.edge = edge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_edges(x, self.edge))


class PowerMeanPool2d(nn.Module):
    """2x2, stride 2: each window's power mean, (mean of x^p)^(1/p), of inputs x >= 0 (it follows a ReLU).

    Between average pooling (p = 1) and max pooling (p -> infinity): a window's
    strong response dominates as under max pooling, the net as trained, while
    the gradient stays spread over the window, weighted by x^(p-1), rather than
    switching to one input as the picture changes. Not torch's LPPool2d: that
    is the sum, not the mean (4^(1/p) times larger). Computed on the window
    scaled by its maximum m, m * (mean (x/m)^p)^(1/p): the powers stay in
    [0, 1] (no overflow in half precision at p = 4) and the root's argument is
    at least 1/4 wherever the window is not all zero. The power mean is
    homogeneous of degree 1, so treating m as a constant gives the exact
    gradient; an all-zero window gives 0 and a zero gradient (a ReLU's
    subgradient: its inputs were clipped anyway), never a NaN.
    """

    def __init__(self, exponent: float) -> None:
        super().__init__()
        if exponent < 1:
            raise UsageError(f"A power-mean pooling needs an exponent of at least 1, not {exponent:g}.")
        self.exponent = exponent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        peak = F.max_pool2d(x, kernel_size=2, stride=2).detach()
        scale = F.interpolate(peak.clamp_min(torch.finfo(x.dtype).tiny), scale_factor=2, mode="nearest")
        ratio = (x[..., : scale.shape[-2], : scale.shape[-1]] / scale).pow(self.exponent)
        # clamp: the all-zero windows' 0 would give the root an infinite slope (and 0 * inf = NaN behind it).
        mean = F.avg_pool2d(ratio, kernel_size=2, stride=2).clamp_min(1e-6)
        return peak * mean.pow(1.0 / self.exponent)

    def extra_repr(self) -> str:
        return f"kernel_size=2, stride=2, exponent={self.exponent:g}"


def _conv(in_channels: int, out_channels: int, *, edge: str) -> nn.Conv2d:
    if edge == "zeros":
        return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    return EdgeConv2d(in_channels, out_channels, edge=edge)


class FeatureExtractor(nn.Module):
    """Frozen, truncated VGG returning the named responses it is asked for.

    ``state`` holds torchvision's ``features.*`` tensors of ``network`` (at
    least up to the deepest of ``layers``; model/weights.py checks them).
    """

    def __init__(
        self,
        state: dict[str, torch.Tensor],
        *,
        network: Network,
        layers: Iterable[str],
        pooling: Pooling = Pooling.AVG,
        padding: Padding = Padding.ZERO,
    ) -> None:
        super().__init__()
        self.architecture: VggArchitecture = architecture(network)
        vgg = self.architecture
        wanted = {vgg.canonical(name) for name in layers}
        if not wanted:
            raise UsageError("The feature extractor needs at least one layer.")
        deepest = max(wanted, key=vgg.index)
        self.layers = tuple(sorted(wanted, key=vgg.index))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        modules: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 3
        for name, index in vgg.plan:
            if name.startswith("conv"):
                out_channels = CHANNELS[int(name[4]) - 1]
                edge = _EDGE[padding] if name == "conv1_1" or padding in _EVERY_CONV else "zeros"
                conv = _conv(in_channels, out_channels, edge=edge)
                conv.weight.data.copy_(state[f"features.{index}.weight"])
                conv.bias.data.copy_(state[f"features.{index}.bias"])
                modules[name] = conv
                in_channels = out_channels
            elif name.startswith("relu"):
                # Not in place: the conv response may itself be a requested layer.
                modules[name] = nn.ReLU(inplace=False)
            elif pooling is Pooling.AVG:
                modules[name] = nn.AvgPool2d(kernel_size=2, stride=2)
            elif pooling is Pooling.POWER:
                modules[name] = PowerMeanPool2d(POWER_EXPONENT)
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
        wanted = set(self.layers if layers is None else (self.architecture.canonical(n) for n in layers))
        self._count(image.shape[0])
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for name, module in self.net.named_children():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out

    @torch.compiler.disable
    def _count(self, images: int) -> None:
        # Outside torch.compile's graph: traced, the counter is a constant the graph is guarded on, so every
        # pass recompiled until dynamo's recompile limit (8) and --compile silently fell back to eager.
        self.passes += images

    def train(self, mode: bool = True) -> "FeatureExtractor":
        # The network is frozen: keep it in eval mode whatever callers ask.
        return super().train(False)
