"""Pixel conventions in one place.

OpenCV hands us BGR uint8 arrays (H, W, 3). VGG19 wants RGB float tensors of
shape (1, 3, H, W) in [0, 1] (ImageNet normalisation happens inside the
feature extractor). Converting back clamps and rounds, so a uint8 frame that
goes to a tensor and back is unchanged bit for bit; the pipeline relies on this
to make resumed runs identical to uninterrupted ones.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch


def bgr_to_tensor(image: np.ndarray, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """BGR uint8 (H, W, 3) -> RGB float32 (1, 3, H, W) in [0, 1]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a BGR uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}")
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    tensor = torch.from_numpy(rgb).to(device=device, dtype=torch.float32).div_(255.0)
    return tensor.permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_bgr(tensor: torch.Tensor) -> np.ndarray:
    """RGB float (1, 3, H, W) in [0, 1] -> BGR uint8 (H, W, 3), clamped and rounded."""
    if tensor.ndim != 4 or tensor.shape[0] != 1 or tensor.shape[1] != 3:
        raise ValueError(f"expected a tensor of shape (1, 3, H, W), got {tuple(tensor.shape)}")
    rgb = tensor.detach()[0].permute(1, 2, 0).clamp(0.0, 1.0).mul(255.0).round()
    array = rgb.to(device="cpu", dtype=torch.uint8).numpy()
    return np.ascontiguousarray(array[:, :, ::-1])


def working_size(width: int, height: int, max_size: int | None, *, even: bool = True) -> tuple[int, int]:
    """Size (width, height) whose long side is at most ``max_size``, aspect kept.

    Images are never upscaled. When the image is scaled down anyway and
    ``even`` is set, both sides are rounded down to even numbers, because
    yuv420p video needs them (a 0.5% aspect error at worst at 200 px). An
    image that is not scaled keeps its size, odd or not: the video sink pads
    it by one pixel instead of resampling it.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid image size {width}x{height}")
    scale = 1.0
    if max_size is not None and max(width, height) > max_size:
        scale = max_size / max(width, height)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    if even and scale < 1.0:
        new_w = max(2, new_w - new_w % 2)
        new_h = max(2, new_h - new_h % 2)
    return new_w, new_h


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a BGR uint8 image to (width, height); area filter when shrinking, cubic when growing."""
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def canvas_size(size: tuple[int, int], margin: int) -> tuple[int, int]:
    """(width, height) of a frame of ``size`` with ``margin`` px added on every side."""
    return size[0] + 2 * margin, size[1] + 2 * margin


def add_margin(image: np.ndarray, margin: int) -> np.ndarray:
    """``image`` on a canvas ``margin`` px larger on every side, filled with copies of its own edge pixels.

    A run stylizes its frames on this larger canvas (config.SelectConfig.edge_margin says why) and
    :func:`crop_margin` takes the frame back out where it is written.
    """
    if margin <= 0:
        return image
    return cv2.copyMakeBorder(image, margin, margin, margin, margin, cv2.BORDER_REPLICATE)


def crop_margin(image: np.ndarray, margin: int) -> np.ndarray:
    """The frame inside a canvas made by :func:`add_margin` (a contiguous copy; ``image`` itself when ``margin`` is 0)."""
    if margin <= 0:
        return image
    return np.ascontiguousarray(image[margin:-margin, margin:-margin])


def working_frame(frame: np.ndarray, size: tuple[int, int], margin: int) -> np.ndarray:
    """A decoded frame as a method sees it: resized to the working ``size``, then on its canvas (:func:`add_margin`)."""
    return add_margin(resize(frame, size), margin)
