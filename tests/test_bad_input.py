"""Whatever a camera, capture card or editor produced: every case ends cleanly (issue 13).

One table, one row per case, each run through the command line in process:

* a case that must fail exits with its code, prints one ``error:`` line that
  says what to do, no traceback, and leaves nothing under the output name
  (no output, no work dir, no temporary file beside them);
* a case that must work ("works" rows) exits 0 and writes a sane output:
  every frame, finite losses, no frame redone.

Failing rows fail before the model runs, so they take a second or two each.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner, Result

from tests.mediatools import REPO_ROOT, count_video_frames, frame_image, make_clip, make_frames_folder, shared_data
from vidstyle.cli import app

FAST = ["--max-size", "32", "--iterations", "2", "--iterations-next", "1", "--max-frames", "3", "--device", "cpu", "--cuts", "off"]


@dataclass
class Media:
    """Where a row builds its inputs, and the defaults it starts from."""

    root: Path
    weights: Path
    weights16: Path
    style: Path
    out: Path  # the folder that holds the output; it must hold nothing new after a failure

    def path(self, name: str) -> Path:
        return self.root / name

    def photo(self, size: tuple[int, int] = (48, 32)) -> Path:
        path = self.root / "photo.png"
        assert cv2.imwrite(str(path), frame_image(3, size))
        return path

    def clip(self, **kwargs: object) -> Path:
        return make_clip(self.root / "clip.mp4", **{"width": 48, "height": 32, "frames": 4, "audio": False, **kwargs})  # type: ignore[arg-type]

    def style_file(self, name: str, image: np.ndarray) -> Path:
        path = self.root / name
        assert cv2.imwrite(str(path), image)
        return path


@dataclass
class Row:
    """What a case runs: the input, the output name (in media.out), and options replacing or adding to the defaults."""

    input: Path | str
    output: str = "out.mp4"
    style: list[Path] | None = None
    extra: list[str] = field(default_factory=list)
    weights: Path | None = None
    check: Callable[[Path, Result], None] | None = None  # works rows: what a sane output looks like


def _args(media: Media, row: Row) -> list[str]:
    styles = row.style if row.style is not None else [media.style]
    style_args = [word for s in styles for word in ("--style", str(s))]
    weights = row.weights or media.weights
    return ["stylize", str(row.input), *style_args, "-o", str(media.out / row.output), "--weights", str(weights), *FAST, *row.extra]


# ------------------------------------------------------------------ inputs


def _text_named_mp4(m: Media) -> Row:
    path = m.path("notes.mp4")
    path.write_text("shopping list: eggs, milk\n")
    return Row(path)


def _zero_bytes(m: Media) -> Row:
    path = m.path("empty.mp4")
    path.write_bytes(b"")
    return Row(path)


def _truncated_mp4(m: Media) -> Row:
    # Its index comes first, so it probes fine and decodes a couple of frames: it used to
    # "succeed" with 2 of 24 frames, under a screenful of h264 decoder complaints.
    path = m.path("cut.mp4")
    path.write_bytes((REPO_ROOT / "samples" / "clip.mp4").read_bytes()[:20000])
    return Row(path)


def _video_without_frames(m: Media) -> Row:
    # A complete MP4 whose video data is all zeros: it opens, probes and has an index, but no frame decodes.
    clip = make_clip(m.path("ok.mp4"), width=48, height=32, frames=6, audio=False)
    data = bytearray(clip.read_bytes())
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"mdat":
            data[offset + 8 : offset + size] = bytes(size - 8)
        offset += size
    path = m.path("blank.mp4")
    path.write_bytes(bytes(data))
    return Row(path)


def _empty_folder(m: Media) -> Row:
    folder = m.path("frames")
    folder.mkdir()
    (folder / "notes.txt").write_text("not a frame")
    return Row(folder)


def _tiny_frames(m: Media) -> Row:
    return Row(m.photo((40, 10)), output="out.png")


def _huge_for_memory(m: Media) -> Row:
    # 8000x6000 at full size needs about 150 GB; the refusal comes before the weights are even loaded.
    path = m.path("poster.png")
    assert cv2.imwrite(str(path), np.full((6000, 8000, 3), 90, np.uint8))
    return Row(path, output="out.png", extra=["--max-size", "8000"])


def _mixed_sizes(m: Media) -> Row:
    folder = m.path("frames")
    make_frames_folder(folder, 6, size=(32, 24))
    assert cv2.imwrite(str(folder / "frame00004.png"), frame_image(4, (32, 26)))  # re-exported 2 px taller
    return Row(folder, extra=["--max-frames", "6"])


# ------------------------------------------------------------------ style images


def _jpeg(m: Media) -> bytes:
    # A real photograph's JPEG (The Starry Night) from the shared data: skipped without it, failed in CI.
    return shared_data("styles", "starry_night.jpg").read_bytes()


def _style_truncated(m: Media) -> Row:
    path = m.path("truncated.jpg")
    path.write_bytes(_jpeg(m)[:5000])  # the first 5,000 bytes of a photo
    return Row(m.photo(), output="out.png", style=[path])


def _style_corrupt(m: Media) -> Row:
    # Garbage in the middle of the scan data: OpenCV decodes it "successfully", with a warning on stderr.
    data = bytearray(_jpeg(m))
    middle = len(data) // 2
    data[middle : middle + 400] = np.random.default_rng(13).integers(0, 256, 400, dtype=np.uint8).tobytes()
    path = m.path("corrupt.jpg")
    path.write_bytes(bytes(data))
    return Row(m.photo(), output="out.png", style=[path])


def _style_not_an_image(m: Media) -> Row:
    path = m.path("style.jpg")
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    return Row(m.photo(), output="out.png", style=[path])


def _sane_image(size: tuple[int, int]) -> Callable[[Path, Result], None]:
    def check(output: Path, result: Result) -> None:
        image = cv2.imread(str(output), cv2.IMREAD_COLOR)
        assert image is not None and (image.shape[1], image.shape[0]) == size
        assert image.std() > 1.0, "a stylized image, not a flat one"
        assert "redone" not in result.stderr

    return check


def _style_works(make: Callable[[Media], np.ndarray], name: str) -> Callable[[Media], Row]:
    def build(m: Media) -> Row:
        return Row(m.photo(), output="out.png", style=[m.style_file(name, make(m))], check=_sane_image((48, 32)))  # the photo's size (the default output size)

    return build


_TEXTURE = frame_image(11, (60, 40))
_GREY = cv2.cvtColor(_TEXTURE, cv2.COLOR_BGR2GRAY)
_RGBA = np.dstack([_TEXTURE, np.linspace(0, 255, 60 * 40).reshape(40, 60).astype(np.uint8)])
_DEEP = _TEXTURE.astype(np.uint16) * 257


def _huge_style(m: Media) -> np.ndarray:
    y, x = np.mgrid[0:4000, 0:6000]
    return np.dstack([(x % 256), (y % 256), ((x + y) % 256)]).astype(np.uint8)


# ------------------------------------------------------------------ works rows with frames


def _all_black(m: Media) -> Row:
    folder = m.path("black")
    folder.mkdir()
    for i in range(3):
        assert cv2.imwrite(str(folder / f"f{i}.png"), np.zeros((24, 32, 3), np.uint8))

    def check(output: Path, result: Result) -> None:
        frames = sorted(output.glob("frame_*.png"))
        assert len(frames) == 3
        for path in frames:
            image = cv2.imread(str(path))
            assert image is not None and image.shape == (24, 32, 3)
        records = [r for f in sorted((m.out / "out.vidstyle" / "log").glob("*.json")) for r in json.loads(f.read_text()).values()]
        assert len(records) == 3
        assert all(np.isfinite(r["loss"]) and not r["redone"] for r in records), records

    return Row(folder, output="out", extra=["--keep-work"], check=check)


def _odd_sizes(m: Media) -> Row:
    clip = make_clip(m.path("odd.mp4"), width=33, height=25, frames=3, audio=False)

    def check(output: Path, result: Result) -> None:
        assert count_video_frames(output) == 3

    return Row(clip, check=check)


# ------------------------------------------------------------------ weights


def _weights_text(m: Media) -> Row:
    path = m.path("weights.pth")
    path.write_text("definitely not a state dict")
    return Row(m.photo(), output="out.png", weights=path)


_MARKER_NAME = "pickle-ran"


class _Payload:
    """Unpickling this would run code (it touches a marker file): it must never be unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch '{self.marker}'",))


def _weights_pickle_with_code(m: Media) -> Row:
    path = m.path("weights.pth")
    torch.save({"features.0.weight": _Payload(m.path(_MARKER_NAME))}, path)

    def never_ran(output: Path, result: Result) -> None:
        assert not m.path(_MARKER_NAME).exists(), "the pickle's code ran"

    return Row(m.photo(), output="out.png", weights=path, check=never_ran)


def _weights_other_network(m: Media) -> Row:
    return Row(m.photo(), output="out.png", weights=m.weights16)


# ------------------------------------------------------------------ outputs


def _output_parent_is_file(m: Media) -> Row:
    (m.out / "renders").write_text("a file, not a folder")
    return Row(m.clip(), output="renders/out.mp4")


def _output_exists(m: Media) -> Row:
    (m.out / "out.mp4").write_bytes(b"someone's video")

    def untouched(output: Path, result: Result) -> None:
        assert output.read_bytes() == b"someone's video"

    return Row(m.clip(), check=untouched)


def _zero_workers(m: Media) -> Row:
    # No guard: a removed or renamed --workers fails this row (a usage error that names another option).
    return Row(m.clip(), extra=["--workers", "0"])


def _unreadable_init(m: Media) -> Row:
    bad = m.path("bad.png")
    bad.write_text("not an image")
    return Row(m.clip(), extra=["--init", str(bad)])


# ------------------------------------------------------------------ the table

FAILS = [
    pytest.param(lambda m: Row(m.path("nothing.mp4")), 1, ["Input not found", "nothing.mp4"], id="missing input"),
    pytest.param(_empty_folder, 1, ["contains no image files", "put the frames there"], id="folder without images"),
    pytest.param(_text_named_mp4, 1, ["notes.mp4 is not a readable video", "give a video file"], id="text file named .mp4"),
    pytest.param(_zero_bytes, 1, ["empty.mp4 is empty (0 bytes)", "Copy it again"], id="zero-byte file"),
    pytest.param(_truncated_mp4, 1, ["truncated", "re-encode"], id="truncated mp4"),
    pytest.param(_video_without_frames, 1, ["no decodable video frames", "re-encode"], id="video without frames"),
    pytest.param(lambda m: Row(m.clip(), style=[m.path("gone.jpg")]), 1, ["Style image not found", "gone.jpg"], id="style missing"),
    pytest.param(_style_truncated, 1, ["truncated.jpg is damaged", "truncated", "another --style"], id="style truncated"),
    pytest.param(_style_corrupt, 1, ["corrupt.jpg is damaged", "another --style"], id="style corrupt"),
    pytest.param(_style_not_an_image, 1, ["Could not read style image", "PNG, JPEG"], id="style not an image"),
    pytest.param(_tiny_frames, 1, ["40x10", "at least 16 pixels"], id="frames smaller than the network takes"),
    pytest.param(_huge_for_memory, 2, ["8000x6000", "GB of memory", "use --max-size"], id="frames too large for memory"),
    pytest.param(_mixed_sizes, 1, ["frame00004.png is 32x26", "frame00000.png is 32x24", "share one size"], id="frames of different sizes"),
    pytest.param(_output_parent_is_file, 1, ["renders is a file, not a folder", "--output"], id="output parent is a file"),
    pytest.param(_output_exists, 1, ["already exists", "vidstyle did not write it"], id="output exists"),
    pytest.param(lambda m: Row(m.clip(), output="out.xyz"), 2, ["out.xyz", ".mp4"], id="unknown output extension"),
    pytest.param(_weights_text, 1, ["Could not read", "as a VGG19 state dict", "torch.save"], id="weights not a tensor file"),
    pytest.param(_weights_pickle_with_code, 1, ["pickled Python objects", "it calls posix.system", "never loads", "state dict"], id="weights pickle with code"),
    pytest.param(_weights_other_network, 1, ["holds VGG16 weights", "pass --network vgg16"], id="weights of the other network"),
    pytest.param(lambda m: Row(m.clip(), extra=["--iterations", "-5"]), 2, ["--iterations", "at least 1"], id="negative iterations"),
    pytest.param(lambda m: Row(m.clip(), extra=["--max-size", "0"]), 2, ["--max-size", "at least 16"], id="zero size"),
    pytest.param(lambda m: Row(m.clip(), extra=["--device", "gpu"]), 2, ["--device", "'gpu'", "--help"], id="unknown device"),
    pytest.param(_zero_workers, 2, ["--workers must be at least 1"], id="zero workers"),
    pytest.param(
        lambda m: Row(m.clip(width=24, height=64)), 2, ["--max-size 32 makes the working size 12x32", "use --max-size"],
        id="working size too small for the network",
    ),
    pytest.param(lambda m: Row(m.clip(), extra=["--start", "999"]), 2, ["--start 999 holds no frames", "widen it"], id="empty selection"),
    pytest.param(
        lambda m: Row(m.clip(), extra=["--init", str(m.path("nope.png"))]), 2, ["--init", "nope.png does not exist"],
        id="init image missing",
    ),
    pytest.param(_unreadable_init, 1, ["Cannot read image", "bad.png"], id="init image unreadable"),
    pytest.param(
        lambda m: Row(m.clip(), style=[m.style, m.style], extra=["--style-blend", "1,2,3"]), 2,
        ["--style-blend has 3 values for 2 styles"], id="blend weights do not match the styles",
    ),  # fmt: skip
]

WORKS = [
    pytest.param(_style_works(lambda m: _GREY, "grey.png"), id="style grayscale"),
    pytest.param(_style_works(lambda m: _RGBA, "rgba.png"), id="style RGBA"),
    pytest.param(_style_works(lambda m: _DEEP, "deep.png"), id="style 16-bit"),
    pytest.param(_style_works(_huge_style, "huge.png"), id="style huge (resized)"),
    pytest.param(_all_black, id="all-black frames"),
    pytest.param(_odd_sizes, id="odd sizes"),
]


@pytest.fixture
def media(tmp_path: Path, random_weights: Path, random_vgg16_weights: Path, style: Path) -> Media:
    out = tmp_path / "out"
    out.mkdir()
    root = tmp_path / "in"
    root.mkdir()
    return Media(root=root, weights=random_weights, weights16=random_vgg16_weights, style=style, out=out)


@pytest.mark.parametrize(("build", "code", "fragments"), FAILS)
def test_fails_cleanly(runner: CliRunner, media: Media, build: Callable[[Media], Row], code: int, fragments: list[str]) -> None:
    row = build(media)
    before = sorted(p.name for p in media.out.iterdir())
    result = runner.invoke(app, _args(media, row))
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "bug in vidstyle" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert sorted(p.name for p in media.out.iterdir()) == before, "something was left under the output's name"
    if row.check is not None:
        row.check(media.out / row.output, result)


@pytest.mark.parametrize("build", WORKS)
def test_works(runner: CliRunner, media: Media, build: Callable[[Media], Row]) -> None:
    row = build(media)
    result = runner.invoke(app, _args(media, row))
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert "Traceback" not in result.output
    output = media.out / row.output
    assert output.exists()
    assert row.check is not None
    row.check(output, result)


def test_folder_of_odd_sizes_fails_before_the_first_frame(runner: CliRunner, media: Media) -> None:
    # The odd frame is the last of 40: found from the headers at once, not after 39 frames.
    folder = media.path("long")
    make_frames_folder(folder, 40, size=(32, 24))
    assert cv2.imwrite(str(folder / "frame00039.png"), frame_image(39, (24, 32)))
    from vidstyle.errors import InputError
    from vidstyle.video.sources import open_source

    with pytest.raises(InputError, match="frame00039.png is 24x32"):
        open_source(folder)  # opening the input, before any plan, work dir or model


def test_resume_of_damaged_manifest_points_at_stylize(runner: CliRunner, tmp_path: Path) -> None:
    # `vidstyle resume` can restart, but a damaged manifest holds no settings to restart with.
    work = tmp_path / "x.mp4.vidstyle"
    work.mkdir()
    (work / "manifest.json").write_text('{"broken')
    result = runner.invoke(app, ["resume", str(work)])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "damaged" in lines[0] and "stylize command with --restart" in lines[0]
