"""The VGG networks vidstyle can use, layer by layer, under the names the literature uses.

torchvision's ``vgg19().features`` and ``vgg16().features`` are flat
``nn.Sequential``s indexed 0, 1, 2, ...; papers and users say conv1_1, relu1_1,
pool1, ... This module is the table between the two for each network
(Simonyan & Zisserman 2015: VGG19 is configuration E, 2-2-4-4-4 convolutions
per block; VGG16 is configuration D, 2-2-3-3-3), and the parameter shapes a
state dict of each must have. It needs no torch and sits below config.py (it
imports only errors.py), so settings can check layer names the moment they are
made, before anything slow is loaded; model/ builds the networks from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cache

from vidstyle.errors import UsageError



class Network(str, Enum):
    """The feature network (Simonyan & Zisserman 2015): configuration E (16 convs) or D (13 convs)."""

    VGG19 = "vgg19"  # Gatys et al.'s network
    VGG16 = "vgg16"  # about 20% fewer FLOPs per step at the default layers


CHANNELS = (64, 128, 256, 512, 512)  # output channels of every conv in block 1..5, both networks
_BLOCKS = {Network.VGG19: (2, 2, 4, 4, 4), Network.VGG16: (2, 2, 3, 3, 3)}


@dataclass(frozen=True)
class VggArchitecture:
    network: Network
    blocks: tuple[int, ...]  # convolutions per block
    plan: tuple[tuple[str, int], ...]  # (paper name, index in torchvision's features) for every layer
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", dict(self.plan))

    @property
    def title(self) -> str:
        return self.network.value.upper()  # "VGG19"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.plan)

    def canonical(self, name: str) -> str:
        """The lower-case paper name; accepts conv and relu names in any case. UsageError if unknown."""
        lowered = name.strip().lower()
        if lowered not in self._index:
            last_block = len(self.blocks)
            raise UsageError(
                f"Unknown {self.title} layer '{name}'; {self.title} has conv1_1 ... "
                f"relu{last_block}_{self.blocks[-1]} ({'-'.join(map(str, self.blocks))} convolutions per block), "
                "e.g. relu4_2 or relu1_1."
            )
        return lowered

    def index(self, name: str) -> int:
        """Position of the layer in torchvision's ``features`` Sequential."""
        return self._index[self.canonical(name)]

    def deepest(self, names: tuple[str, ...] | list[str]) -> str:
        return max((self.canonical(name) for name in names), key=self.index)

    def feature_shapes(self, deepest: str | None = None) -> dict[str, tuple[int, ...]]:
        """Shapes of the ``features.*`` parameters of torchvision's model, up to ``deepest`` (all without it)."""
        last = self.index(deepest) if deepest else len(self.plan)
        shapes: dict[str, tuple[int, ...]] = {}
        in_channels = 3
        for name, index in self.plan:
            if index > last:
                break
            if name.startswith("conv"):
                out_channels = CHANNELS[int(name[4]) - 1]
                shapes[f"features.{index}.weight"] = (out_channels, in_channels, 3, 3)
                shapes[f"features.{index}.bias"] = (out_channels,)
                in_channels = out_channels
        return shapes


@cache
def architecture(network: Network) -> VggArchitecture:
    blocks = _BLOCKS[Network(network)]
    plan: list[tuple[str, int]] = []
    index = 0
    for block, convs in enumerate(blocks, start=1):
        for conv in range(1, convs + 1):
            plan.append((f"conv{block}_{conv}", index))
            plan.append((f"relu{block}_{conv}", index + 1))
            index += 2
        plan.append((f"pool{block}", index))
        index += 1
    return VggArchitecture(network=Network(network), blocks=blocks, plan=tuple(plan))

