"""How close a stylized picture is to its painting and its photo, and how much fine ripple it carries: measures, not losses.

The optimizer's own losses cannot judge it: a tool that weights its layers
differently scores better on its own terms by construction. These measures
use one fixed judge network for every tool (a VGG with max pooling and zero
padding, as trained on ImageNet, whatever the tool optimized with) and are
computed the same way for every picture:

* **style distance per layer**: the normalised Gram distance
  ``mean((G - A)^2) / mean(A^2)``, G the picture's Gram matrix at that layer
  and A the painting's (each divided by the map size H*W, the painting
  resized to the picture's long side, as both vidstyle and neural-style do at
  style scale 1). 0 is the painting's own statistics, 1 is as far as an
  all-black picture. The overall style distance is the mean over the five
  layers relu1_1 ... relu5_1.
* **content distance**: ``|F - P| / |P|`` at relu4_2, F the picture's
  features and P the photo's: 0 is the photo, 1 as far as a black picture.
* **ripple** (:func:`ripple`): how much less the texture flows than the painting's (structure-tensor coherence at stroke scale, where the photo is flat),
  against the same measure on the painting, so a tool that paints the
  painting's own strokes into the sky is not flagged, and one that fills it
  with a finer periodic texture than the painting has is.
* **grid** (:func:`grid`): periodic energy at a network's stride periods
  (a lattice of thin lines every 4 or 2 px, fixed to the pixel grid: what a
  stride-4 network can paint), against the neighbouring frequencies; 1 = none.

benchmarks/peer.py reports them for vidstyle and neural-style side by side;
tests/model/test_measure.py checks them on synthetic cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidstyle.model.losses import gram_matrix
from vidstyle.networks import Network, architecture

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class Judge(torch.nn.Module):
    """A VGG (max pooling, zero padding, torchvision's input convention) that returns the measured layers' responses."""

    def __init__(self, state: dict[str, torch.Tensor], network: Network = Network.VGG16) -> None:
        super().__init__()
        vgg = architecture(network)
        self.indices = {name: vgg.index(name) for name in STYLE_LAYERS + (CONTENT_LAYER,)}
        last = max(self.indices.values())
        layers: list[torch.nn.Module] = []
        in_channels = 3
        for name, index in vgg.plan:
            if index > last:
                break
            if name.startswith("conv"):
                conv = torch.nn.Conv2d(in_channels, state[f"features.{index}.weight"].shape[0], 3, padding=1)
                conv.weight.data.copy_(state[f"features.{index}.weight"])
                conv.bias.data.copy_(state[f"features.{index}.bias"])
                in_channels = conv.out_channels
                layers.append(conv)
            elif name.startswith("relu"):
                layers.append(torch.nn.ReLU())
            else:
                layers.append(torch.nn.MaxPool2d(2, 2))
        self.layers = torch.nn.ModuleList(layers)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def load(cls, path: Path, network: Network = Network.VGG16) -> Judge:
        return cls(torch.load(path, map_location="cpu", weights_only=True), network)

    @torch.no_grad()
    def features(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        """The responses of a BGR uint8 picture (H, W, 3) at the measured layers, float32 (1, C, h, w)."""
        rgb = torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1)[None].float() / 255.0
        x = (rgb - self.mean) / self.std
        wanted = {index: name for name, index in self.indices.items()}
        out: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
            if len(out) == len(wanted):
                break
        return out


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """The picture with its long side ``long_side`` pixels (area filter when shrinking), aspect kept."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


@dataclass(frozen=True)
class Distances:
    style: dict[str, float]  # layer -> normalised Gram distance
    content: float  # relative feature distance at relu4_2

    @property
    def style_mean(self) -> float:
        return float(np.mean(list(self.style.values())))


def distances(judge: Judge, picture: np.ndarray, photo: np.ndarray, painting: np.ndarray) -> Distances:
    """Style distance of ``picture`` to ``painting`` (per layer) and content distance to ``photo``; BGR uint8 each.

    The photo is resized to the picture's size and the painting to its long
    side, so the three may come at any size.
    """
    height, width = picture.shape[:2]
    photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA) if photo.shape[:2] != (height, width) else photo
    painting = resize_long_side(painting, max(height, width))
    mine, theirs, source = judge.features(picture), judge.features(painting), judge.features(photo)
    style = {}
    for name in STYLE_LAYERS:
        target = gram_matrix(theirs[name])
        style[name] = float(((gram_matrix(mine[name]) - target) ** 2).mean() / (target**2).mean().clamp_min(1e-30))
    p = source[CONTENT_LAYER]
    content = float((mine[CONTENT_LAYER] - p).norm() / p.norm().clamp_min(1e-30))
    return Distances(style=style, content=content)


# --------------------------------------------------------------------------- ripple

STROKE_SIGMA = 8.0  # px: the window (Gaussian sigma) over which a brush stroke keeps one direction at 192-256 px


def coherence(image: np.ndarray, sigma: float = STROKE_SIGMA, mask: np.ndarray | None = None) -> float:
    """How much the picture's texture runs one way within ``sigma`` px: the structure tensor's coherence, in [0, 1].

    (l1 - l2) / (l1 + l2) of the grey gradient's structure tensor smoothed
    over ``sigma``, averaged with the gradient energy as weight (over ``mask``
    if given): 1 where every stroke in a window runs the same way, near 0
    for small rings, whorls and speckle, whose gradients point every way.
    """
    grey = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 0.7)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.GaussianBlur(v, (0, 0), sigma) for v in (gx * gx, gy * gy, gx * gy))
    trace = jxx + jyy
    spread = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)
    weight = trace if mask is None else trace * mask
    return float((spread / np.maximum(trace, 1e-6) * weight).sum() / max(float(weight.sum()), 1e-12))


def ripple(picture: np.ndarray, photo: np.ndarray, painting: np.ndarray) -> float:
    """How much less the picture's texture flows than the painting's: (1 - its coherence) / (1 - the painting's); 1 = as the painting.

    Both at STROKE_SIGMA, the painting resized to the picture's long side (as
    the style targets are). Van Gogh's long strokes keep a direction over
    many pixels; a fine ring-and-ripple texture turns within a few, so it
    raises the picture's incoherence above the painting's. ``photo`` is
    accepted for symmetry with :func:`distances` and to weigh its own flat
    regions: where it is flat, everything in the picture was painted, so
    the measure is taken there when the photo has enough of them (a
    tenth of the picture), and over the whole picture otherwise.
    """
    height, width = picture.shape[:2]
    if photo.shape[:2] != (height, width):
        photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
    mask = flat_mask(photo)
    own = coherence(picture, mask=mask if mask.mean() >= 0.1 else None)
    reference = coherence(resize_long_side(painting, max(height, width)))
    return (1 - own) / max(1 - reference, 1e-6)


FLAT_LEVELS = 6.0  # a photo pixel is "flat" where its 9x9 neighbourhood's grey standard deviation is under this (of 255)


def flat_mask(photo: np.ndarray) -> np.ndarray:
    """Where the photo is flat (bool, H x W): a 9x9 grey standard deviation under FLAT_LEVELS, away from the border."""
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (9, 9))
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, (9, 9)) - mean * mean, 0))
    inner = np.zeros_like(std, dtype=bool)
    inner[8:-8, 8:-8] = True  # the outermost pixels are a padding question (another measure's), not ripple
    return (std < FLAT_LEVELS) & inner


# --------------------------------------------------------------------------- grid

GRID_RADIUS = 4  # bins: the neighbourhood a target frequency is compared with (its own 3x3 bins, the Hann window's main lobe, left out)


def grid(frames: np.ndarray | Sequence[np.ndarray], period: int = 4) -> float:
    """Periodic energy at spatial frequencies k/period cycles/px (each axis and their combinations), against its neighbours; ~1 = no grid.

    ``frames``: one BGR uint8 picture (H, W, 3) or several of one size. Each
    is cropped to a multiple of ``period`` (so every k/period falls on an FFT
    bin), has its channel means removed, is multiplied by a 2-D Hann window
    (no border discontinuity), and the power spectra of its three channels
    are added (a grid in colour counts as one in grey). The spectra of all
    frames are averaged: a lattice fixed to the pixel grid, as a strided
    network paints it, adds up over frames, texture that moves averages out.
    For each target bin (ky, kx) with ky, kx multiples of size/period, not
    both 0, the ratio of its power to the median power of the bins within
    GRID_RADIUS of it (its own 3x3 left out); the result is the mean ratio.
    Noise or a photo's smooth spectrum gives about 1 (1/ln 2 = 1.44 for one
    frame of white noise, whose bins scatter; nearer 1 as frames are
    averaged); a 4 px lattice of one grey level in 255 on a busy picture
    gives several (see tests/model/test_measure.py for measured figures).
    """
    stack = [frames] if isinstance(frames, np.ndarray) and frames.ndim == 3 else list(frames)
    height, width = stack[0].shape[:2]
    height, width = height - height % period, width - width % period
    if height < 2 * period * GRID_RADIUS or width < 2 * period * GRID_RADIUS:
        raise ValueError(f"grid() needs pictures of at least {2 * period * GRID_RADIUS} px a side")
    window = np.outer(np.hanning(height), np.hanning(width)).astype(np.float64)[..., None]
    power = np.zeros((height, width))
    for frame in stack:
        x = frame[:height, :width].astype(np.float64)
        x = (x - x.mean(axis=(0, 1))) * window
        power += (np.abs(np.fft.fft2(x, axes=(0, 1))) ** 2).sum(axis=2)
    ratios = []
    for ky in range(0, height, height // period):
        for kx in range(0, width, width // period):
            if ky == 0 and kx == 0:
                continue
            rows = np.arange(ky - GRID_RADIUS, ky + GRID_RADIUS + 1) % height
            cols = np.arange(kx - GRID_RADIUS, kx + GRID_RADIUS + 1) % width
            near = power[np.ix_(rows, cols)].copy()
            near[GRID_RADIUS - 1 : GRID_RADIUS + 2, GRID_RADIUS - 1 : GRID_RADIUS + 2] = np.nan
            ratios.append(power[ky, kx] / max(float(np.nanmedian(near)), 1e-30))
    return float(np.mean(ratios))
