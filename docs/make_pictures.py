"""Make the pictures of README.md, with real ImageNet features (the shared VGG19 weights, the default network).

    uv run python docs/make_pictures.py [--threads 2] [--size 256] [--only grid|strip|animation|hud|fullres] [--animation-frames N]
        [--iterations N] [--hud-frames N] [--keep DIR]

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
    strength.jpg   the marple8 photo in The Starry Night at --strength 0.15 (the old default's balance), 0.5, 1, 2
    fullres.jpg    100% crops of one region of a full-size frame (frame 40 of issue-134-rotate.mp4, 544x1280 as
                   decoded: we have no 1080p source), one column per configuration: the input; the default run
                   (--size px, guided upsampling to the source's size, --output-size source); the same
                   working-size result upsampled bicubic (what --output-size source did before issue 23); and
                   the frame optimized at its full size (--max-size 1280 --coarse-to-fine on). Not part of the
                   default set (the full-size run took 33 minutes on one thread of the loaded 2-core CPU): --only fullres.
                   The default and bicubic columns come from one --output-size working run, upsampled here by
                   the function a run's sink calls (video/upsample.upsample_to_source; detail 0 is its bicubic
                   path). A full-size result already in --keep (fullres_1280.png) is reused, e.g. one made by
                   `vidstyle stylize frame40.png -s starry_night.jpg -o DIR/fullres_1280.png --weights VGG19
                   --max-size 1280 --coarse-to-fine on`.

Each still is at most 300 KB and the animation at most 1 MB: the script lowers the quality until
they fit and fails if they cannot. It needs ../shared/data (the VGG19 weights, the paintings and
the photo; see ../shared/data/README.md for where they come from). Everything runs at the product's
defaults (working size, steps, padding, output size) unless --size or --iterations say otherwise, and
goes through vidstyle's public API (`vidstyle.stylize`).
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
from vidstyle.config import EncodeConfig, Network  # noqa: E402
from vidstyle.model.autosize import CPU_SIZE  # noqa: E402
from vidstyle.video.pixels import resize, working_size  # noqa: E402
from vidstyle.video.sheet import Tile, compose  # noqa: E402
from vidstyle.video.sources import open_source, read_image  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
WEIGHTS = SHARED / "weights" / "vgg19_imagenet_features.pth"  # the default network's real ImageNet weights
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
FULLRES_CLIP = SHARED / "videos" / "issue-134-rotate.mp4"
FULLRES_FRAME = 40  # the frame resolution.py's multiscale section measures
FULLRES_SIZE = 1280  # the frame's long side: optimized at its full size
FULLRES_CROP = (170, 540, 220, 220)  # x, y, width, height in the 544x1280 frame: the face and the start of "Send Spike"


STRENGTHS = (0.15, 0.5, 1.0, 2.0)  # the strip: the old balance (style weight 3 of today's 20), between, the default, heavier


def settings(style: Path, size: int, iterations: int | None = None, strength: float = 1.0) -> Settings:
    """The product's defaults (VGG19 with the real weights), but for the working size and, if asked, the steps."""
    return Settings(
        model=ModelConfig(network=Network.VGG19, weights=WEIGHTS),
        style=StyleConfig(images=(style,)),
        optimize=OptimizeConfig(iterations=iterations or OptimizeConfig().iterations, strength=strength),
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
        f"vidstyle at its defaults (VGG19 with ImageNet weights, content {o.content_weight:g} / style {o.style_weight:g} / "
        f"tv {o.tv_weight:g}, up to {o.iterations} steps) at {size} px; each frame stylized from cold, as a run's first frame."
    )
    sheet = compose(rows, caption=caption).image
    target = IMG / "styles.jpg"
    target.write_bytes(fit_jpeg(sheet, STILL_LIMIT))
    return target


def make_strip(work: Path, size: int, iterations: int | None) -> Path:
    """The photo in The Starry Night at each of STRENGTHS: the trade --strength moves along."""
    style = next(iter(STYLES))
    row = []
    for strength in STRENGTHS:
        out = work / f"strength_{strength:g}.png"
        started = time.perf_counter()
        stylize(PHOTO, out, settings=settings(style, size, iterations, strength))
        print(f"  strength {strength:g}: {time.perf_counter() - started:.0f} s", flush=True)
        label = f"--strength {strength:g}" + (" (default)" if strength == 1.0 else " (the old balance, style weight 3)" if strength == 0.15 else "")
        row.append(Tile(cv2.imread(str(out)), label))
    caption = f"marple8 in the style of The Starry Night at {size} px, vidstyle defaults but --strength; each from cold."
    target = IMG / "strength.jpg"
    target.write_bytes(fit_jpeg(compose([row], caption=caption).image, STILL_LIMIT))
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
    return fit_webp(frames, fps, IMG / "clip.webp")


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
        f"Two whole runs of vidstyle on samples/hud.mp4 (first {frames} frames), VGG19 ImageNet weights, The Starry Night, "
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


def make_fullres(work: Path, size: int) -> Path:
    """100% crops of one region of a full-size frame per configuration (issue 23): input, default, bicubic, full size."""
    from vidstyle.config import CoarseToFine, OutputSize
    from vidstyle.video.upsample import upsample_to_source

    style = ANIMATION_STYLE
    frame_path = work / f"fullres_frame{FULLRES_FRAME}.png"
    with open_source(FULLRES_CLIP) as source:
        for _, frame in source.read([FULLRES_FRAME]):
            cv2.imwrite(str(frame_path), frame)
    frame = cv2.imread(str(frame_path))
    outputs = {}
    for name, max_size, select_change, optimize_change in (
        ("working", size, {"output_size": OutputSize.WORKING}, {}),
        (f"{FULLRES_SIZE}", FULLRES_SIZE, {}, {"coarse_to_fine": CoarseToFine.ON}),
    ):
        out = work / f"fullres_{name}.png"
        if not out.is_file():
            run = settings(style, max_size)
            run = run.replace(select=replace(run.select, **select_change), optimize=replace(run.optimize, **optimize_change))
            started = time.perf_counter()
            stylize(frame_path, out, settings=run)
            print(f"  frame {FULLRES_FRAME} at {max_size} px: {time.perf_counter() - started:.0f} s", flush=True)
        outputs[name] = cv2.imread(str(out))
    working = outputs["working"]
    guided = upsample_to_source(working, frame)  # what a default run writes (video/sinks.py)
    bicubic = upsample_to_source(working, frame, detail=0.0)
    full = outputs[f"{FULLRES_SIZE}"]
    assert full.shape == frame.shape, (full.shape, frame.shape)
    x, y, w, h = FULLRES_CROP
    height, width = frame.shape[:2]
    thumb = cv2.resize(frame, (round(width * h / height), h), interpolation=cv2.INTER_AREA)
    scale = h / height
    cv2.rectangle(thumb, (round(x * scale), round(y * scale)), (round((x + w) * scale), round((y + h) * scale)), (0, 0, 255), 1)
    wh, ww = working.shape[:2]
    row = [
        Tile(thumb, "where"),
        Tile(frame[y : y + h, x : x + w], "input, 100%"),
        Tile(guided[y : y + h, x : x + w], f"{max(ww, wh)} px, guided"),
        Tile(bicubic[y : y + h, x : x + w], f"{max(ww, wh)} px, bicubic"),
        Tile(full[y : y + h, x : x + w], f"{FULLRES_SIZE} px, multi-scale"),
    ]
    caption = (
        f"Frame {FULLRES_FRAME} of issue-134-rotate.mp4 at its full {width}x{height} (no 1080p source at hand), 100% crops; "
        f"The Starry Night, VGG19 ImageNet weights, defaults otherwise: stylized at {ww}x{wh} and upsampled guided by the "
        f"frame (the default) or bicubic, and optimized at {width}x{height} coarse to fine (--max-size {FULLRES_SIZE} "
        "--coarse-to-fine on)."
    )
    target = IMG / "fullres.jpg"
    target.write_bytes(fit_jpeg(compose([row], caption=caption).image, STILL_LIMIT))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--only", choices=["grid", "strip", "animation", "hud", "fullres"], default=None)
    parser.add_argument("--hud-frames", type=int, default=12, help="hud: stylize the HUD clip's first N frames (of 24)")
    parser.add_argument("--animation-frames", type=int, default=None, help="animate only the clip's first N frames (default: all 24)")
    parser.add_argument("--iterations", type=int, default=None, help="grid: first-frame steps (default: the product's)")
    parser.add_argument("--size", type=int, default=CPU_SIZE, help="working size (long side, px; default: what --max-size auto gives on a CPU)")
    parser.add_argument("--keep", type=Path, default=None, help="write the single pictures to this folder and keep them (to measure them)")
    args = parser.parse_args()
    missing = [p for p in (WEIGHTS, PHOTO, FULLRES_CLIP, *STYLES) if not p.is_file()]
    if missing:
        raise SystemExit(f"missing {', '.join(map(str, missing))}: the pictures need ../shared/data (see its README.md)")
    torch.set_num_threads(args.threads)
    IMG.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidstyle-pictures-") as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        made = []
        if args.only in (None, "strip"):
            made.append(make_strip(work, args.size, args.iterations))
        if args.only in (None, "grid"):
            made.append(make_grid(work, args.size, args.iterations))
        if args.only in (None, "animation"):
            made.append(make_animation(work, args.size, args.animation_frames))
        if args.only in (None, "hud"):
            made.extend(make_hud(work, args.size, args.hud_frames))
        if args.only == "fullres":  # not in the default set: its full-size run took 33 minutes on one CPU thread
            made.append(make_fullres(work, args.size))
    for path in made:
        limit = (HUD_ANIMATION_LIMIT if path.name == "hud.webp" else ANIMATION_LIMIT) if path.suffix == ".webp" else STILL_LIMIT
        size = path.stat().st_size
        assert size <= limit, (path, size)
        print(f"{path.relative_to(REPO)}: {size / 1024:.0f} KB (limit {limit // 1024} KB)")


if __name__ == "__main__":
    main()
