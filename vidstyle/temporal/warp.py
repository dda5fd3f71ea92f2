"""Backward warping: output[x] = image[x + flow[x]], bilinear, border replicated.

Two implementations of the same operation: ``warp_image`` (OpenCV, numpy
frames and flow fields) and ``warp_tensor`` (torch grid_sample, for tensors
that live on the optimisation device). With ``align_corners=True`` and
``padding_mode='border'`` grid_sample samples at exactly the pixel
coordinates cv2.remap uses, with the same clamping, so both agree; the only
difference is that cv2.remap rounds the sub-pixel position to 1/32 px
(cv2.INTER_TAB_SIZE), which keeps them within
``max neighbour difference / 64`` of each other for arbitrary flows and exact
(to float rounding) for flows on a 1/32 px grid.

Ruder et al. warp with bilinear interpolation too; what happens outside the
frame does not matter for them or us because those pixels are marked
unreliable by the mask.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def _sample_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"expected a flow of shape (H, W, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = grid_x + flow[:, :, 0].astype(np.float32)
    map_y = grid_y + flow[:, :, 1].astype(np.float32)
    return map_x, map_y


def warp_image(image: np.ndarray, flow: np.ndarray, *, sharp: bool = False) -> np.ndarray:
    """Backward-warp an (H, W) or (H, W, C) float32/uint8 image with an (H, W, 2) flow.

    The result has the image's dtype (uint8 results are rounded by OpenCV).
    ``sharp`` samples bicubically instead of bilinearly: a bilinear warp by a
    fractional shift is a low-pass filter, and a stylized frame carried along
    a pan is warped once per frame, so its brush strokes would blur frame
    after frame. The metric keeps bilinear sampling, as Lai et al. do.
    """
    if image.dtype not in (np.uint8, np.float32):
        raise ValueError(f"expected a uint8 or float32 image, got {image.dtype}")
    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and flow {flow.shape[:2]} differ in size")
    map_x, map_y = _sample_maps(flow)
    interpolation = cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR

    def remap(channels: np.ndarray) -> np.ndarray:
        return cv2.remap(channels, map_x, map_y, interpolation=interpolation, borderMode=cv2.BORDER_REPLICATE)

    if image.ndim == 2:
        return remap(image)
    # cv2.remap handles at most 4 channels; split wider arrays into chunks.
    chunks = []
    for start in range(0, image.shape[2], 4):
        part = remap(np.ascontiguousarray(image[:, :, start : start + 4]))
        chunks.append(part.reshape(image.shape[0], image.shape[1], -1))
    return np.concatenate(chunks, axis=2) if len(chunks) > 1 else chunks[0]


def warp_tensor(tensor: torch.Tensor, flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Backward-warp an (N, C, H, W) tensor with an (H, W, 2) flow (numpy or torch).

    Differentiable w.r.t. ``tensor``; the flow is moved to the tensor's device
    and dtype and shared by the whole batch.
    """
    if tensor.ndim != 4:
        raise ValueError(f"expected a tensor of shape (N, C, H, W), got {tuple(tensor.shape)}")
    flow_t = torch.as_tensor(flow).to(device=tensor.device, dtype=tensor.dtype)
    if flow_t.ndim != 3 or flow_t.shape[2] != 2 or tuple(flow_t.shape[:2]) != tuple(tensor.shape[2:]):
        raise ValueError(f"flow of shape {tuple(flow_t.shape)} does not match tensor {tuple(tensor.shape)}")
    height, width = tensor.shape[2:]
    ys = torch.arange(height, device=tensor.device, dtype=tensor.dtype)
    xs = torch.arange(width, device=tensor.device, dtype=tensor.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    # align_corners=True maps -1 / +1 to the centres of the first / last
    # pixels, i.e. pixel coordinate p -> 2p / (size - 1) - 1.
    norm_x = 2.0 * (grid_x + flow_t[:, :, 0]) / max(width - 1, 1) - 1.0
    norm_y = 2.0 * (grid_y + flow_t[:, :, 1]) / max(height - 1, 1) - 1.0
    grid = torch.stack((norm_x, norm_y), dim=2).unsqueeze(0).expand(tensor.shape[0], -1, -1, -1)
    return F.grid_sample(tensor, grid, mode="bilinear", padding_mode="border", align_corners=True)
