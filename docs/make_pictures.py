"""Make the pictures at the top of README.md, with real ImageNet features (the shared VGG16 weights).

    uv run python docs/make_pictures.py [--threads 2] [--size 128] [--only grid|animation|hud] [--animation-frames N]
        [--iterations N] [--hud-frames N]

Writes docs/img/:
    styles.jpg     two of the sample clip's frames and a real photo (first row), each stylized in two
                   styles (one row per style), at the default settings but for the working size; every
                   frame stylized from cold, as a run's first frame (what `vidstyle preview` shows)
    clip.webp      the sample clip (or its first --animation-frames frames) stylized by a whole run
                   (`vidstyle stylize`, default settings, so later frames start from the flow-warped
                   previous one), input and result side by side, looping at the clip's 12 fps
    hud.jpg        samples/hud.mp4 (a world scrolling under a fixed HUD; its first --hud-frames frames)
                   stylized by two whole runs, without and with --protect-overlays auto: the last
                   frame of each beside the input, and the score's corner of each at 2x below
    hud.webp       the same two runs as an animation, input | without | with

Each still is at most 300 KB and the animation at most 1 MB: the script lowers the quality until
they fit and fails if they cannot. It needs ../shared/data (the VGG16 weights, the paintings and
the photo; see ../shared/data/README.md for where they come from). The working size is 128 px by
default, not the product's 256, because the committed pictures were made on a 2-core CPU shared with
other work, where even that took most of an hour; on an idle 2-core machine 256 px should take about
20 minutes (an estimate from the single-frame timings in docs/performance.md, not measured).
Everything goes through vidstyle's public API (`vidstyle.stylize`).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import torch

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))

from vidstyle import ModelConfig, OptimizeConfig, SelectConfig, Settings, StyleConfig, stylize  # noqa: E402
from vidstyle.config import EncodeConfig, Network, Padding  # noqa: E402
from vidstyle.video.pixels import resize, working_size  # noqa: E402
from vidstyle.video.sheet import Tile, compose  # noqa: E402
from vidstyle.video.sources import open_source, read_image  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
WEIGHTS = SHARED / "weights" / "vgg16_imagenet_features.pth"
CLIP = REPO / "samples" / "clip.mp4"
PHOTO = SHARED / "frames" / "marple8" / "marple8_01.ppm"
STYLES = {  # file -> how the sheet names it
    SHARED / "styles" / "starry_night.jpg": "Van Gogh, The Starry Night",
    SHARED / "styles" / "the_scream.jpg": "Munch, The Scream",
}
CLIP_FRAMES = (2, 21)  # the ball in the air on the left, and on the right
ANIMATION_STYLE = SHARED / "styles" / "starry_night.jpg"
HUD_CLIP = REPO / "samples" / "hud.mp4"
HUD_ANIMATION_LIMIT = 300 * 1024
HUD_CORNER = (0, 0, 160, 40)  # x, y, width, height of the score's corner in the 320x180 clip
STILL_LIMIT = 300 * 1024
ANIMATION_LIMIT = 1024 * 1024
IMG = DOCS / "img"


def settings(style: Path, size: int, iterations: int | None = None) -> Settings:
    return Settings(
        model=ModelConfig(network=Network.VGG16, weights=WEIGHTS, padding=Padding.REPLICATE_FIRST),  # no edge line on flat skies
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=iterations or OptimizeConfig().iterations),
        select=SelectConfig(max_size=size),
        encode=EncodeConfig(audio=False),
    )


def clip_frames(folder: Path) -> list[Path]:
    """The chosen frames of the sample clip as PNGs (stylize reads an image input as a one-frame run)."""
    paths = []
    with open_source(CLIP) as source:
        for index, frame in source.read(CLIP_FRAMES):
            path = folder / f"clip_{index:02d}.png"
            cv2.imwrite(str(path), frame)
            paths.append(path)
    return paths


def fit_jpeg(image: np.ndarray, limit: int) -> bytes:
    for quality in range(92, 40, -4):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(data) <= limit:
            return data.tobytes()
    raise SystemExit(f"the grid does not fit in {limit // 1024} KB even at JPEG quality 44")


def make_grid(work: Path, size: int, iterations: int | None) -> Path:
    inputs = clip_frames(work) + [PHOTO]
    labels = [f"samples/clip.mp4 frame {i}" for i in CLIP_FRAMES] + ["photo (marple8, artistic-videos)"]
    rows = [[Tile(resize(read_image(p), working_size(*read_image(p).shape[1::-1], size)), label) for p, label in zip(inputs, labels)]]
    for style, name in STYLES.items():
        row = []
        for path in inputs:
            out = work / f"{path.stem}_{style.stem}.png"
            started = time.perf_counter()
            stylize(path, out, settings=settings(style, size, iterations))
            print(f"  {path.name} in {style.stem}: {time.perf_counter() - started:.0f} s", flush=True)
            row.append(Tile(cv2.imread(str(out)), name))
        rows.append(row)
    o = settings(next(iter(STYLES)), size, iterations).optimize
    caption = (
        f"vidstyle --network vgg16 with ImageNet VGG16 weights, default settings (content {o.content_weight:g} / "
        f"style {o.style_weight:g} / tv {o.tv_weight:g}, {Padding.REPLICATE_FIRST.value} padding) at {size} px, "
        f"{o.iterations} steps; each frame stylized from cold, as a run's first frame."
    )
    sheet = compose(rows, caption=caption).image
    target = IMG / "styles.jpg"
    target.write_bytes(fit_jpeg(sheet, STILL_LIMIT))
    return target


def make_animation(work: Path, size: int, frames: int | None) -> Path:
    folder = work / "clip_frames"
    started = time.perf_counter()
    run = settings(ANIMATION_STYLE, size)
    run = run.replace(select=replace(run.select, max_frames=frames))
    result = stylize(CLIP, folder, settings=run)
    print(f"  the clip in {ANIMATION_STYLE.stem}: {result.frames} frames, {time.perf_counter() - started:.0f} s", flush=True)
    stylized = [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]
    with open_source(CLIP) as source:
        originals = [resize(frame, (stylized[0].shape[1], stylized[0].shape[0])) for _, frame in source.read(range(len(stylized)))]
        fps = float(source.info.fps or 12)
    frames = [np.concatenate([a, b], axis=1)[:, :, ::-1] for a, b in zip(originals, stylized)]  # RGB, side by side
    target = IMG / "clip.webp"
    for quality in range(80, 20, -10):
        buffer = io.BytesIO()
        iio.imwrite(buffer, np.stack(frames), extension=".webp", duration=round(1000 / fps), loop=0, quality=quality)
        if buffer.tell() <= ANIMATION_LIMIT:
            target.write_bytes(buffer.getvalue())
            return target
    raise SystemExit(f"the animation does not fit in {ANIMATION_LIMIT // 1024} KB even at WebP quality 30")


def fit_webp(frames: list[np.ndarray], fps: float, target: Path, limit: int = ANIMATION_LIMIT) -> Path:
    for quality in range(80, 20, -10):
        buffer = io.BytesIO()
        iio.imwrite(buffer, np.stack(frames), extension=".webp", duration=round(1000 / fps), loop=0, quality=quality)
        if buffer.tell() <= limit:
            target.write_bytes(buffer.getvalue())
            return target
    raise SystemExit(f"the animation does not fit in {limit // 1024} KB even at WebP quality 30")


def make_hud(work: Path, size: int, frames: int) -> list[Path]:
    from vidstyle.config import OverlayMode

    outputs = {}
    for protect in (OverlayMode.OFF, OverlayMode.AUTO):
        run = settings(ANIMATION_STYLE, size)
        run = run.replace(select=replace(run.select, max_frames=frames, protect_overlays=protect))
        folder = work / f"hud_{protect.value}"
        started = time.perf_counter()
        result = stylize(HUD_CLIP, folder, settings=run)
        print(f"  hud.mp4, --protect-overlays {protect.value}: {result.frames} frames, {time.perf_counter() - started:.0f} s", flush=True)
        outputs[protect] = [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]
    with open_source(HUD_CLIP) as source:
        originals = [frame for _, frame in source.read(range(frames))]
        fps = float(source.info.fps or 12)
    without, with_ = outputs[OverlayMode.OFF], outputs[OverlayMode.AUTO]
    x, y, w, h = HUD_CORNER

    def corner(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image[y : y + h, x : x + w], (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)

    last = frames - 1
    rows = [
        [Tile(originals[last], f"samples/hud.mp4 frame {last}"), Tile(without[last], "stylized"),
         Tile(with_[last], "stylized, --protect-overlays auto")],
        [Tile(corner(originals[last]), "the score, 2x"), Tile(corner(without[last]), "2x"), Tile(corner(with_[last]), "2x")],
    ]  # fmt: skip
    caption = (
        f"Two whole runs of vidstyle on samples/hud.mp4 (first {frames} frames), VGG16 ImageNet weights, The Starry Night, "
        f"default settings at {size} px, output at the clip's 320x180; right: the HUD the detector found is the input's."
    )
    still = IMG / "hud.jpg"
    still.write_bytes(fit_jpeg(compose(rows, caption=caption).image, STILL_LIMIT))
    # Three panels at 3/4 size: the noise-textured world compresses poorly, and the animation stays under 300 KB.
    animation = [
        cv2.resize(np.concatenate([a, b, c], axis=1), None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)[:, :, ::-1]
        for a, b, c in zip(originals, without, with_)
    ]
    return [still, fit_webp(animation, fps, IMG / "hud.webp", limit=HUD_ANIMATION_LIMIT)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--only", choices=["grid", "animation", "hud"], default=None)
    parser.add_argument("--hud-frames", type=int, default=12, help="hud: stylize the HUD clip's first N frames (of 24)")
    parser.add_argument("--animation-frames", type=int, default=None, help="animate only the clip's first N frames (default: all 24)")
    parser.add_argument("--iterations", type=int, default=None, help="grid: first-frame steps (default: the product's)")
    parser.add_argument("--size", type=int, default=128, help="working size (long side, px); keep it modest on a CPU")
    args = parser.parse_args()
    missing = [p for p in (WEIGHTS, PHOTO, *STYLES) if not p.is_file()]
    if missing:
        raise SystemExit(f"missing {', '.join(map(str, missing))}: the pictures need ../shared/data (see its README.md)")
    torch.set_num_threads(args.threads)
    IMG.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidstyle-pictures-") as temporary:
        work = Path(temporary)
        made = []
        if args.only in (None, "grid"):
            made.append(make_grid(work, args.size, args.iterations))
        if args.only in (None, "animation"):
            made.append(make_animation(work, args.size, args.animation_frames))
        if args.only in (None, "hud"):
            made.extend(make_hud(work, args.size, args.hud_frames))
    for path in made:
        limit = (HUD_ANIMATION_LIMIT if path.name == "hud.webp" else ANIMATION_LIMIT) if path.suffix == ".webp" else STILL_LIMIT
        size = path.stat().st_size
        assert size <= limit, (path, size)
        print(f"{path.relative_to(REPO)}: {size / 1024:.0f} KB (limit {limit // 1024} KB)")


if __name__ == "__main__":
    main()
