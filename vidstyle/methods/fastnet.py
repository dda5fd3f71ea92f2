"""The small image-to-image networks of the fast method, and how one is rebuilt from its spec.

(The choice among them, with the measurements behind it, is in the module
docstring of vidstyle.methods.feedforward, which trains and applies them.)

Two known designs, each fully convolutional with an overall stride of 4:

* ``johnson``: the TransformerNet of Johnson, Alahi & Fei-Fei (2016) with the
  usual later fixes: reflection padding, nearest-neighbour upsampling followed
  by a convolution instead of a transposed convolution (no checkerboard),
  and a configurable width (``width`` = channels of the first layer; the
  paper's network has 32, "half width" 16) and number of residual blocks.
  ReCoNet (Gao et al. 2018) uses the same shape at width 48 with 4 blocks.
* ``unet``: a Texler et al. (2020)-style patch network: a small U-Net with
  skip connections (the network of Futschik et al. 2019 that Texler et al.
  train on patches), no normalisation, so a patch and the same pixels inside
  a whole frame get the same output.

Design fields of NetSpec, each one measured change (docs/fast-mode.md, "The
grid"; 150 frames at 54x128, VGG16, 335 training steps, seeds 0 and 1):

* ``upsample``: nearest-neighbour x2 (the default) or bilinear x2, each
  followed by a 3x3 convolution, or a sub-pixel convolution. Nearest is
  what paints fast mode's regular grid of thin lines every 4 px: after it,
  the convolution sees four different arrangements of the low-resolution
  pixels at the four sub-pixel phases, in effect four kernels, and the
  training leaves them unequal (vidstyle.model.measure.grid; at today's look,
  power pooling and style weight 20: 10 / 2.9 on seeds 0 / 1, against the
  optimizer's 1.05 and the inputs' 2.3). Bilinear removes it (1.5 / 1.4)
  but learns the strokes slower at the short-clip budget (style 2.08x /
  2.02x the optimizer's against nearest's 1.34x / 1.33x), so it is not the
  default. ``shuffle`` is a sub-pixel convolution (Shi et al. 2016: a 3x3
  convolution to 4x the channels at the low resolution, then
  PixelShuffle(2)) initialised with ICNR (Aitken et al. 2017), so its four
  phases start equal and an untrained network paints no lattice;
  ``shuffle-blur`` adds a fixed 2x2 box after the shuffle (Sugawara et al.
  2019). Neither removes the grid: the training makes the phases differ
  again (grid 13 / 24 and 31 / 20), so neither is the default either
  (at 1,500 steps, seed 0, shuffle's style is better, 1.02x against
  nearest's 1.16x, but its grid stays, 6.4 against 2.3).
* The training's phase penalty (feedforward's ``LossWeights.phases``, on
  ``phase_spread``) holds shuffle's four phases together (docs/fast-mode.md,
  "Holding the sub-pixel phases together"; 600 steps, seeds 0 / 1). At 300
  it keeps them equal (spread 6e-5 / 1e-4) and the herringbone goes, but a
  lattice like nearest's stays (grid 8.9 / 3.4 against nearest's 5.1 / 6.6:
  a kernel shared by the four phases is the convolution before a nearest
  x2, with nearest's lattice) and the style is learned slower (1.34x / 1.25x
  against nearest's 1.18x / 1.18x). At 1,500 steps (seed 0) it lands
  between the two: style 1.09x (nearest 1.16x, shuffle 1.02x), grid 4.0
  (2.3, 6.4), warping error 0.84x (0.57x, 0.76x). It stays selectable, off
  by default. (A shared kernel plus a per-phase part scaled by 0.1 did not
  hold them: Adam gave the small part full-size steps, spread 0.67, grid 19;
  tried in e93349c and removed.)

Measured at the earlier look (average pooling, style weight 30):

* ``downsample``: a 3x3 convolution at stride 2 (the default) or at stride
  1 followed by a 2x2 average pool (even overlap). The stride's uneven
  overlap is not the grid's source: with the pool it came out at 38 on
  seed 0 and 3.8 on seed 1 (the grid's strength varies much by seed).
* ``residual``: the output added to the input, so the network starts from
  the photo, as the optimizer does. It weakened the grid to the inputs'
  level (3.5 / 2.3) but learned no faster (style 1.73x / 1.78x), kept more of the photo (content 1.18x / 1.15x against 1.30x /
  1.36x) and flickered more (warping error 0.96x / 0.84x against 0.49x /
  0.75x); off by default.

A spec saved without these fields (models saved before they existed) means
nearest, stride and no residual: the design those models were trained with.

``norm`` picks instance normalisation (Johnson, ReCoNet) or none. Instance
norm makes every pixel depend on the statistics of the whole image, so a
network trained on crops sees other statistics at apply time, and a frame's
colours can shift when something enters the picture; without normalisation
the output at a pixel depends only on its receptive field (Texler et al.'s
argument for patch training).

The output is the network's last convolution, unbounded during training and
clamped to [0, 1] when frames are written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from vidstyle.errors import UsageError


class Architecture(str, Enum):
    JOHNSON = "johnson"  # the encoder/decoder of Johnson et al. (ReCoNet's at width 48, 4 blocks)
    UNET = "unet"


class Norm(str, Enum):
    INSTANCE = "instance"
    NONE = "none"


class Upsample(str, Enum):
    NEAREST = "nearest"  # nearest-neighbour x2, then a 3x3 convolution
    BILINEAR = "bilinear"  # bilinear x2, then a 3x3 convolution
    SHUFFLE = "shuffle"  # a 3x3 convolution to 4x the channels, then a pixel shuffle x2 (sub-pixel), ICNR-initialised
    SHUFFLE_BLUR = "shuffle-blur"  # the same, then a fixed 2x2 box filter


class Downsample(str, Enum):
    STRIDE = "stride"  # a 3x3 convolution at stride 2
    POOL = "pool"  # a 3x3 convolution at stride 1 (and its ReLU), then a 2x2 average pool


# Every network halves the picture twice; inputs are padded to a multiple of this.
STRIDE = 4
# Smallest side the networks run at: the 9x9 input layer pads 4 px by
# reflection, which needs more than 4 px, and at a quarter of the size the
# 3x3 layers and instance norm need more than one pixel.
MIN_SIDE = 16


@dataclass(frozen=True)
class NetSpec:
    """Everything needed to rebuild a network before its weights are loaded."""

    architecture: Architecture = Architecture.JOHNSON
    width: int = 16  # channels of the first layer; the encoder doubles it twice
    blocks: int = 5  # residual blocks at a quarter of the resolution
    norm: Norm = Norm.NONE
    upsample: Upsample = Upsample.NEAREST
    downsample: Downsample = Downsample.STRIDE
    residual: bool = False  # the network's output added to its input: it learns a change to the photo

    def __post_init__(self) -> None:
        for name, kind in (("architecture", Architecture), ("norm", Norm), ("upsample", Upsample), ("downsample", Downsample)):
            if not isinstance(getattr(self, name), kind):
                raise UsageError(f"The fast network's {name} must be one of: {', '.join(k.value for k in kind)}.")
        if not isinstance(self.residual, bool):
            raise UsageError("The fast network's residual must be true or false.")
        if not 1 <= self.width <= 256:
            raise UsageError("The fast network's width must be between 1 and 256 channels.")
        if not 0 <= self.blocks <= 32:
            raise UsageError("The fast network's residual blocks must be between 0 and 32.")

    def to_json(self) -> dict[str, object]:
        return {key: (value.value if isinstance(value, Enum) else value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "NetSpec":
        return cls(
            architecture=Architecture(str(data["architecture"])),
            width=int(data["width"]),  # type: ignore[arg-type]
            blocks=int(data["blocks"]),  # type: ignore[arg-type]
            norm=Norm(str(data["norm"])),
            # Models saved before these fields existed had these designs.
            upsample=Upsample(str(data.get("upsample", Upsample.NEAREST.value))),
            downsample=Downsample(str(data.get("downsample", Downsample.STRIDE.value))),
            residual=bool(data.get("residual", False)),
        )


def _norm(spec: NetSpec, channels: int) -> nn.Module:
    if spec.norm is Norm.INSTANCE:
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class _Conv(nn.Sequential):
    """Reflection pad, convolution, optional norm, optional ReLU."""

    def __init__(
        self, spec: NetSpec, cin: int, cout: int, kernel: int, *, stride: int = 1, norm: bool = True, relu: bool = True
    ) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride=stride)]
        if norm:
            layers.append(_norm(spec, cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class _Residual(nn.Module):
    def __init__(self, spec: NetSpec, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _Conv(spec, channels, channels, 3),
            _Conv(spec, channels, channels, 3, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Up(nn.Sequential):
    """x2 (nearest or bilinear) then a convolution: no checkerboard artifacts (Odena et al. 2016)."""

    def __init__(self, spec: NetSpec, cin: int, cout: int, kernel: int = 3) -> None:
        if spec.upsample is Upsample.BILINEAR:
            up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        else:
            up = nn.Upsample(scale_factor=2, mode="nearest")
        super().__init__(up, _Conv(spec, cin, cout, kernel))


class _BoxBlur(nn.Module):
    """A fixed 2x2 mean of each channel (Sugawara et al. 2019's zero-order hold after the upsampling).

    Its response is zero at 1/2 cycle per pixel on each axis, so whatever the
    sub-pixel kernels learn, the four phases' differences cannot pass it as a
    2-px lattice by the linear path (the ReLU after it still can make one out
    of phases of unequal strength, and trained networks do: docs/fast-mode.md,
    "The grid"). It pads one pixel on the right and bottom (replicated), so
    the picture moves by half a pixel; the layers after it learn with that.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, stride=1)


class _ShuffleUp(nn.Sequential):
    """x2 by sub-pixel convolution (Shi et al. 2016): a convolution at the low resolution gives 4x the
    channels, and PixelShuffle(2) lays each group of four out as one output channel's 2x2 block.

    Initialised with ICNR (Aitken et al. 2017): the four channels of each group
    start as copies of one kernel (and bias), so at its initial weights the layer
    is exactly the convolution at the low resolution followed by nearest x2, with
    four equal sub-pixel phases and no lattice. Nothing in the layer keeps them
    equal after that, and training drives them apart (the grid comes back:
    docs/fast-mode.md, "The grid"); the training's phase penalty
    (feedforward.LossWeights.phases, on phase_spread) holds them equal (the
    module docstring has what that does). Same multiply-adds as nearest x2 +
    a 3x3 conv (4x the outputs at a quarter of the pixels), 4x its weights.
    """

    def __init__(self, spec: NetSpec, cin: int, cout: int, kernel: int = 3) -> None:
        conv = nn.Conv2d(cin, cout * 4, kernel)
        one = nn.Conv2d(cin, cout, kernel)  # torch's default init for the kernel the four phases share
        with torch.no_grad():
            # PixelShuffle(2) takes input channels 4c .. 4c + 3 to output channel c's four phases.
            conv.weight.copy_(one.weight.repeat_interleave(4, dim=0))
            conv.bias.copy_(one.bias.repeat_interleave(4, dim=0))
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), conv, nn.PixelShuffle(2)]
        if spec.upsample is Upsample.SHUFFLE_BLUR:
            layers.append(_BoxBlur())
        layers += [_norm(spec, cout), nn.ReLU(inplace=True)]
        super().__init__(*layers)

    def kernels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The sub-pixel convolution's weight (4 * cout, cin, k, k) and bias, phases of output channel c at 4c .. 4c + 3."""
        conv = self[1]
        return conv.weight, conv.bias


def phase_spread(net: nn.Module) -> torch.Tensor:
    """How far the four sub-pixel kernels of the network's shuffle convolutions are apart (0: at ICNR, no lattice from them).

    The sum, over every shuffle convolution, output channel and phase, of the
    squared distance of the phase's kernel and bias from the mean of the
    channel's four. Differentiable: the training's phase penalty
    (feedforward.LossWeights.phases) is this times its weight. 0 for networks
    without a shuffle convolution.
    """
    total = torch.zeros((), device=next(net.parameters()).device)  # on the network's device, to add to its loss
    for module in net.modules():
        if isinstance(module, _ShuffleUp):
            for tensor in module.kernels():
                grouped = tensor.reshape(tensor.shape[0] // 4, 4, -1)
                total = total + (grouped - grouped.mean(dim=1, keepdim=True)).pow(2).sum()
    return total


def _up(spec: NetSpec, cin: int, cout: int) -> nn.Module:
    """Double the resolution by the spec's upsample design."""
    if spec.upsample in (Upsample.SHUFFLE, Upsample.SHUFFLE_BLUR):
        return _ShuffleUp(spec, cin, cout)
    return _Up(spec, cin, cout)


def _down(spec: NetSpec, cin: int, cout: int) -> nn.Module:
    """Half the resolution: a 3x3 convolution at stride 2, or at stride 1 followed by a 2x2 average pool."""
    if spec.downsample is Downsample.POOL:
        return nn.Sequential(_Conv(spec, cin, cout, 3), nn.AvgPool2d(2))
    return _Conv(spec, cin, cout, 3, stride=2)


class EncoderDecoder(nn.Module):
    """Johnson's TransformerNet shape (also ReCoNet's, at other widths): 9x9 in, 2 strided convs, residuals, 2 ups, 9x9 out."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.residual = spec.residual
        c1, c2, c3 = spec.width, spec.width * 2, spec.width * 4
        self.body = nn.Sequential(
            _Conv(spec, 3, c1, 9),
            _down(spec, c1, c2),
            _down(spec, c2, c3),
            *(_Residual(spec, c3) for _ in range(spec.blocks)),
            _up(spec, c3, c2),
            _up(spec, c2, c1),
            _Conv(spec, c1, 3, 9, norm=False, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class PatchUNet(nn.Module):
    """A small U-Net in the spirit of Texler et al. (2020): skip connections carry the fine detail across."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.residual = spec.residual
        c1, c2, c3 = spec.width, spec.width * 2, spec.width * 4
        self.enc1 = _Conv(spec, 3, c1, 5)
        self.enc2 = _down(spec, c1, c2)
        self.enc3 = _down(spec, c2, c3)
        self.middle = nn.Sequential(*(_Residual(spec, c3) for _ in range(spec.blocks)))
        self.up2 = _up(spec, c3, c2)
        self.dec2 = _Conv(spec, c2 * 2, c2, 3)
        self.up1 = _up(spec, c2, c1)
        self.dec1 = _Conv(spec, c1 * 2, c1, 3)
        self.out = _Conv(spec, c1, 3, 3, norm=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        middle = self.middle(self.enc3(e2))
        d2 = self.dec2(torch.cat((self.up2(middle), e2), dim=1))
        d1 = self.dec1(torch.cat((self.up1(d2), e1), dim=1))
        out = self.out(d1)
        return x + out if self.residual else out


def build_network(spec: NetSpec) -> nn.Module:
    """A freshly initialised network (torch's default init, drawn from the global RNG: seed it first).

    The network carries its ``spec``, which save_model writes beside the weights.
    """
    net: nn.Module = PatchUNet(spec) if spec.architecture is Architecture.UNET else EncoderDecoder(spec)
    net.spec = spec  # type: ignore[assignment]
    return net


def pad_to_stride(batch: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) on the right and bottom to a multiple of STRIDE (and at least MIN_SIDE); returns the original (H, W).

    Reflection keeps the border's texture statistics; it needs the pad to be
    smaller than the side, so tiny images fall back to replication.
    """
    height, width = batch.shape[-2:]
    pad_h = max(MIN_SIDE, height + (-height) % STRIDE) - height
    pad_w = max(MIN_SIDE, width + (-width) % STRIDE) - width
    if pad_h == 0 and pad_w == 0:
        return batch, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(batch, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def run_network(net: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The network on a batch of any size: padded to the stride, cropped back."""
    padded, (height, width) = pad_to_stride(batch)
    return net(padded)[..., :height, :width]


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
