"""Contact sheets: pictures in a grid, each with a one-line label above it, and a caption below.

The preview sheet (pipeline/preview.py) puts a clip's input frames in one
row and their stylized versions in the row below; the benchmark and the README
picture scripts use the same grid for their comparisons. Labels are drawn
with OpenCV's built-in Hershey font, so only ASCII is drawn (anything else
becomes '?'), and no font file or extra dependency is needed.

Every row is as tall as its tallest picture and every column as wide as its
widest; a picture sits in the top-left corner of its cell. ``Sheet.boxes``
says where each picture and label went, so callers (and tests) can find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

BACKGROUND = (28, 28, 28)  # BGR: dark grey, so light text and most pictures stand out
TEXT = (235, 235, 235)
MARGIN = 8  # pixels around and between cells
LABEL_HEIGHT = 18  # the band above each picture that holds its label
LINE_HEIGHT = 16  # caption lines
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.4  # about 9 px capitals: readable, and a 256-px tile fits about 40 characters


@dataclass(frozen=True)
class Tile:
    image: np.ndarray  # BGR uint8 (H, W, 3)
    label: str = ""


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y : self.y + self.height, self.x : self.x + self.width]


@dataclass(frozen=True)
class Placed:
    picture: Box  # where the tile's image is
    label: Box  # the band above it (the whole cell width)


@dataclass(frozen=True)
class Sheet:
    image: np.ndarray  # BGR uint8
    cells: tuple[tuple[Placed | None, ...], ...]  # [row][column]; None where the grid had no tile
    caption: Box | None  # the caption's band, None without a caption


def text_width(text: str) -> int:
    (width, _), _ = cv2.getTextSize(_ascii(text), _FONT, _FONT_SCALE, 1)
    return width


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _fit(text: str, width: int) -> str:
    """``text`` cut (with '...') to at most ``width`` pixels."""
    text = _ascii(text)
    if text_width(text) <= width:
        return text
    while text and text_width(text + "...") > width:
        text = text[:-1]
    return text + "..."


def wrap(text: str, width: int) -> list[str]:
    """Words of ``text`` in lines of at most ``width`` pixels (a single over-long word is cut)."""
    lines: list[str] = []
    for paragraph in _ascii(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate) <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(_fit(line, width))
    return lines


def _put(image: np.ndarray, text: str, x: int, baseline: int) -> None:
    cv2.putText(image, text, (x, baseline), _FONT, _FONT_SCALE, TEXT, 1, cv2.LINE_AA)


def compose(rows: Sequence[Sequence[Tile | None]], *, caption: str = "") -> Sheet:
    """One picture of ``rows`` of tiles (a None leaves its cell empty), labels above, ``caption`` below."""
    if not rows or not any(tile is not None for row in rows for tile in row):
        raise ValueError("a sheet needs at least one tile")
    columns = max(len(row) for row in rows)
    widths = [
        max((row[c].image.shape[1] for row in rows if c < len(row) and row[c] is not None), default=0)
        for c in range(columns)
    ]
    heights = [max((tile.image.shape[0] for tile in row if tile is not None), default=0) for row in rows]
    xs = [MARGIN + sum(w + MARGIN for w in widths[:c]) for c in range(columns)]
    ys = [MARGIN + sum(LABEL_HEIGHT + h + MARGIN for h in heights[:r]) for r in range(len(rows))]
    width = xs[-1] + widths[-1] + MARGIN
    grid_bottom = ys[-1] + LABEL_HEIGHT + heights[-1] + MARGIN
    lines = wrap(caption, width - 2 * MARGIN) if caption else []
    height = grid_bottom + (len(lines) * LINE_HEIGHT + MARGIN if lines else 0)

    sheet = np.empty((height, width, 3), np.uint8)
    sheet[:] = BACKGROUND
    placed: list[tuple[Placed | None, ...]] = []
    for r, row in enumerate(rows):
        cells: list[Placed | None] = []
        for c in range(columns):
            tile = row[c] if c < len(row) else None
            if tile is None:
                cells.append(None)
                continue
            image = tile.image
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"tiles must be BGR uint8 (H, W, 3), got {image.dtype} {image.shape}")
            label = Box(xs[c], ys[r], widths[c], LABEL_HEIGHT)
            picture = Box(xs[c], ys[r] + LABEL_HEIGHT, image.shape[1], image.shape[0])
            picture.crop(sheet)[:] = image
            if tile.label:
                _put(sheet, _fit(tile.label, widths[c]), label.x, label.y + LABEL_HEIGHT - 5)
            cells.append(Placed(picture=picture, label=label))
        placed.append(tuple(cells))
    caption_box = None
    if lines:
        caption_box = Box(MARGIN, grid_bottom, width - 2 * MARGIN, len(lines) * LINE_HEIGHT)
        for i, line in enumerate(lines):
            _put(sheet, line, MARGIN, grid_bottom + (i + 1) * LINE_HEIGHT - 4)
    return Sheet(image=sheet, cells=tuple(placed), caption=caption_box)
