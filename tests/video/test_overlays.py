"""The overlay detector (--protect-overlays auto) on synthetic shots: it finds a HUD drawn over a moving
scene, and protects nothing on a still shot, a title card, a mostly still shot or a pan with no overlay.

Frames are 128x96: a noise-textured world scrolling 3 px right and 1 px down a frame under a fixed
"SCORE 42" (cv2.putText, white with a black outline) and a health bar. Measured here with these
frames: IoU of the protected area with the text's and bar's boxes 0.71 (text alone 0.76), 2.4% of the
frame protected outside them (the grown margin).
"""

from __future__ import annotations

import cv2
import numpy as np

from vidstyle.video.overlays import OverlaySpec, detect_overlays, sample_positions, to_mask_image
from pathlib import Path

SIZE = (128, 96)
TEXT = "SCORE 42"
TEXT_ORIGIN = (4, 14)


def world(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A colour texture with coarse blobs and fine grain, as a game world is textured everywhere."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.random((height // 6, width // 6)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    fine = rng.random((height, width)).astype(np.float32)
    grey = np.clip(coarse * 170 + fine * 70, 0, 255)
    return np.stack([grey, np.roll(grey, 7, axis=1), np.roll(grey, 5, axis=0)], axis=-1).astype(np.uint8)


def draw_text(frame: np.ndarray) -> None:
    cv2.putText(frame, TEXT, TEXT_ORIGIN, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, TEXT, TEXT_ORIGIN, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def hud_scene(
    count: int = 12, *, text: bool = True, bar: bool = True, step: tuple[int, int] = (3, 1), size: tuple[int, int] = SIZE
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Frames of the world scrolling by ``step`` px a frame under the HUD, and each HUD element's box (bool)."""
    width, height = size
    big = world(width + abs(step[0]) * count + 8, height + abs(step[1]) * count + 8)
    frames = []
    for k in range(count):
        dx, dy = abs(step[0]) * k, abs(step[1]) * k
        frame = np.ascontiguousarray(big[dy : dy + height, dx : dx + width])
        if text:
            draw_text(frame)
        if bar:
            cv2.rectangle(frame, (6, height - 12), (60, height - 5), (30, 30, 200), -1)
            cv2.rectangle(frame, (6, height - 12), (60, height - 5), (255, 255, 255), 1)
        frames.append(frame)
    boxes = {}
    (text_width, text_height), baseline = cv2.getTextSize(TEXT, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    box = np.zeros((height, width), bool)
    box[TEXT_ORIGIN[1] - text_height - 2 : TEXT_ORIGIN[1] + baseline + 1, TEXT_ORIGIN[0] - 2 : TEXT_ORIGIN[0] + text_width + 2] = True
    boxes["text"] = box
    box = np.zeros((height, width), bool)
    box[height - 12 : height - 4, 6:61] = True
    boxes["bar"] = box
    if not text:
        del boxes["text"]
    if not bar:
        del boxes["bar"]
    return frames, boxes


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_a_still_shot_protects_nothing() -> None:
    frames, _ = hud_scene(step=(0, 0))
    found = detect_overlays(frames)
    assert not found.found and found.protected == 0.0 and not found.mask.any()
    assert "nothing protected" in found.reason


def test_a_title_card_protects_nothing() -> None:
    card = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    cv2.putText(card, "CHAPTER 2", (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    rng = np.random.default_rng(3)
    frames = [np.clip(card + rng.integers(0, 3, card.shape), 0, 255).astype(np.uint8) for _ in range(10)]  # codec-like grain
    assert not detect_overlays(frames).found


def test_a_mostly_still_shot_with_something_moving_protects_nothing() -> None:
    """A static camera, a small object crossing it, and the same text: too little of the frame moves."""
    background = world(*SIZE)
    frames = []
    for k in range(12):
        frame = background.copy()
        cv2.circle(frame, (10 + 9 * k, 60), 10, (0, 0, 255), -1)
        draw_text(frame)
        frames.append(frame)
    found = detect_overlays(frames)
    assert not found.found
    assert found.moving < 0.5


def test_a_camera_pan_without_an_overlay_protects_nothing() -> None:
    for step in ((3, 1), (1, 0), (0, 2)):
        frames, _ = hud_scene(text=False, bar=False, step=step)
        assert not detect_overlays(frames).found, step


def test_fixed_text_over_a_moving_scene_is_protected_and_little_else() -> None:
    frames, boxes = hud_scene(bar=False)
    found = detect_overlays(frames)
    protected = found.mask > 0
    assert found.found and found.mask.shape == (SIZE[1], SIZE[0])
    assert iou(protected, boxes["text"]) >= 0.6  # measured 0.76: the mask is the text's hull grown by 2 px
    assert (protected & ~boxes["text"]).mean() < 0.01  # measured 0.003 of the frame
    assert protected[boxes["text"]].mean() >= 0.75  # measured 0.79 of the (generous) box


def test_text_and_a_health_bar_are_both_found() -> None:
    frames, boxes = hud_scene()
    found = detect_overlays(frames)
    protected = found.mask > 0
    hud = boxes["text"] | boxes["bar"]
    assert found.blobs == 2
    assert iou(protected, hud) >= 0.6  # measured 0.71
    assert protected[boxes["bar"]].mean() > 0.95
    assert (protected & ~hud).mean() < 0.04  # measured 0.024: the 2 px margin around both


def test_the_detection_is_deterministic() -> None:
    frames, _ = hud_scene()
    first, second = detect_overlays(frames), detect_overlays([f.copy() for f in frames])
    assert first.mask.tobytes() == second.mask.tobytes() and first.reason == second.reason


def test_too_few_frames_protect_nothing() -> None:
    frames, _ = hud_scene(count=2)
    assert not detect_overlays(frames).found


def test_sample_positions_spread_over_the_shot() -> None:
    assert sample_positions(10, 15) == [10, 11, 12, 13, 14]
    spread = sample_positions(0, 1000, 24)
    assert len(spread) == 24 and spread[0] == 0 and spread[-1] == 999


def test_the_mask_image_is_in_the_convention_of_mask() -> None:
    frames, boxes = hud_scene(bar=False)
    image = to_mask_image(detect_overlays(frames))
    assert image[boxes["text"]].mean() < 60  # mostly black: kept from the source
    assert image[~boxes["text"]].mean() > 250  # white elsewhere: stylized


def test_a_spec_finds_the_shot_of_a_position() -> None:
    spec = OverlaySpec(starts=(0, 10, 20), files=(None, Path("a.png"), None))
    assert [spec.file_at(p) for p in (0, 9, 10, 19, 20, 99)] == [None, None, Path("a.png"), Path("a.png"), None, None]
    assert spec.any and not OverlaySpec(starts=(0,), files=(None,)).any


class Frames:
    """A source: read() yields (index, frame) for increasing indices, as video/sources.py's readers do."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.read_indices: list[int] = []

    def read(self, indices):  # noqa: ANN001, ANN201
        for index in indices:
            self.read_indices.append(index)
            yield index, self.frames[index]


def test_each_shot_is_looked_at_on_its_own() -> None:
    from vidstyle.video.overlays import detect_in_shots

    still, _ = hud_scene(count=8, step=(0, 0))
    moving, boxes = hud_scene(count=40)
    source = Frames(still + moving)
    found = detect_in_shots(source, list(range(48)), [(0, 8), (8, 48)])
    assert [f.found for f in found] == [False, True]
    assert iou(found[1].mask > 0, boxes["text"] | boxes["bar"]) >= 0.6
    assert source.read_indices == sorted(set(source.read_indices)), "one forward pass"
    assert len(source.read_indices) == 8 + 24, "every frame of the short shot, 24 of the long one"
