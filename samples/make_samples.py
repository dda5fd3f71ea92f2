"""Generate the procedural demo media in ``samples/``.

Everything here is synthesised from fixed random seeds with numpy/OpenCV; no
downloads and no third-party media. Run from the repository root::

    uv run python samples/make_samples.py

Outputs (next to this script):
    clip.mp4           2 s, 12 fps (24 frames), 320x180, H.264 yuv420p + AAC mono
    hud.mp4            2 s, 12 fps (24 frames), 320x180, H.264 yuv420p, no audio: a game-capture-like
                       clip, a top-down world scrolling under a fixed HUD (score, health bar, minimap)
    style_swirls.jpg   flow-field brush-stroke painting (blues / yellows)
    style_mosaic.jpg   stained-glass Voronoi mosaic with bold dark leading
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import wave
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

OUT_DIR = Path(__file__).resolve().parent

W, H = 320, 180
FPS = 12
N_FRAMES = 24
SR = 44100


# --------------------------------------------------------------------------- #
# Noise helpers
# --------------------------------------------------------------------------- #
def fractal_noise(h: int, w: int, rng: np.random.Generator, base: int = 4,
                  octaves: int = 5, persistence: float = 0.5) -> np.ndarray:
    """Value-noise fBm in [0, 1], shape (h, w), float32."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base * (2 ** o)
        gh = max(2, int(round(cells * h / max(h, w))) + 2)
        gw = max(2, int(round(cells * w / max(h, w))) + 2)
        grid = rng.random((gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
    out /= total
    out -= out.min()
    out /= max(float(out.max()), 1e-6)
    return out


def lerp_color(c0, c1, t: np.ndarray) -> np.ndarray:
    c0 = np.asarray(c0, np.float32)
    c1 = np.asarray(c1, np.float32)
    return c0 + (c1 - c0) * t[..., None]


# --------------------------------------------------------------------------- #
# Demo clip
# --------------------------------------------------------------------------- #
# Motion is defined per second (so FPS can change without changing the scene),
# then converted to pixels per frame.
PAN_FAR = 12.0 / FPS    # px / frame for distant mountains (12 px/s)
PAN_NEAR = 36.0 / FPS   # px / frame for foreground hills and meadow (36 px/s)
SKY_DRIFT = 3.6 / FPS   # px / frame for the clouds


def make_layers(rng: np.random.Generator):
    """Paint the static parallax layers (RGB float32 0..255 + alpha masks)."""
    cw = W + int(np.ceil(PAN_NEAR * N_FRAMES)) + 16
    ys = np.linspace(0, 1, H, dtype=np.float32)[:, None]

    # Sky: vertical gradient + soft cloud noise (screen width, drifts slowly).
    sky_w = W + 64
    sky = lerp_color((70, 120, 200), (250, 200, 150), np.broadcast_to(ys ** 1.6, (H, sky_w)))
    clouds = fractal_noise(H, sky_w, rng, base=3, octaves=5)
    clouds = np.clip((clouds - 0.5) * 2.5, 0, 1) * (1 - ys) ** 0.7
    sky = sky * (1 - clouds[..., None] * 0.7) + 250 * clouds[..., None] * 0.7

    xs = np.arange(cw, dtype=np.float32)

    def ridge(base_y, amp, rough_seed_scale, n_harm):
        y = np.full(cw, base_y, np.float32)
        for k in range(1, n_harm + 1):
            ph = rng.random() * 2 * np.pi
            y += amp / k ** 1.2 * np.sin(xs / cw * 2 * np.pi * k * rough_seed_scale + ph)
        return y

    yy = np.arange(H, dtype=np.float32)[:, None]

    # Far mountains: bluish, textured, alpha from ridge line.
    far_ridge = ridge(95, 22, 1.0, 7)
    far_mask = (yy >= far_ridge[None, :]).astype(np.float32)
    tex = fractal_noise(H, cw, rng, base=8, octaves=5)
    far = lerp_color((95, 110, 150), (140, 150, 185), tex)
    far *= (0.85 + 0.25 * (yy - 60) / H)[..., None]
    # snow caps
    snow = ((yy - far_ridge[None, :]) < 6 + 6 * tex) & (far_mask > 0)
    far[snow] = far[snow] * 0.4 + np.array([235, 238, 245], np.float32) * 0.6

    # Near hills + meadow: greens with grass texture and a few flowers.
    near_ridge = ridge(128, 14, 1.0, 6)
    near_mask = (yy >= near_ridge[None, :]).astype(np.float32)
    t1 = fractal_noise(H, cw, rng, base=10, octaves=6)
    t2 = fractal_noise(H, cw, rng, base=40, octaves=3)
    near = lerp_color((40, 95, 35), (130, 170, 60), t1 * 0.7 + t2 * 0.3)
    depth = np.clip((yy - near_ridge[None, :]) / 60.0, 0, 1)
    near *= (1.05 - 0.35 * depth)[..., None]
    # horizontal grass streaks
    streak = cv2.resize(rng.random((H, cw // 6)).astype(np.float32), (cw, H),
                        interpolation=cv2.INTER_LINEAR)
    near *= (0.88 + 0.24 * streak)[..., None]
    near = np.ascontiguousarray(near)
    for _ in range(260):
        fx = int(rng.integers(0, cw))
        fy = int(rng.integers(int(near_ridge[fx]) + 8, H))
        col = [(240, 220, 60), (235, 80, 90), (250, 250, 245), (170, 110, 220)][int(rng.integers(0, 4))]
        cv2.circle(near, (fx, fy), int(rng.integers(1, 3)), col, -1, lineType=cv2.LINE_AA)
    # a few trees on the near hill
    for _ in range(9):
        tx = int(rng.integers(10, cw - 10))
        ty = int(near_ridge[tx]) + 4
        th = int(rng.integers(18, 30))
        cv2.rectangle(near, (tx - 1, ty - th // 3), (tx + 1, ty + 2), (70, 45, 30), -1)
        for j in range(3):
            r = int(th * (0.45 - 0.1 * j))
            cv2.circle(near, (tx + int(rng.integers(-3, 4)), ty - th // 3 - j * r // 2 - r // 2),
                       r, (25 + 10 * j, 80 + 15 * j, 30), -1, lineType=cv2.LINE_AA)
            near_mask_u8 = (near_mask * 255).astype(np.uint8)
            cv2.circle(near_mask_u8, (tx, ty - th // 3 - j * r // 2 - r // 2), r, 255, -1,
                       lineType=cv2.LINE_AA)
            near_mask = near_mask_u8.astype(np.float32) / 255.0
    near_mask = cv2.GaussianBlur(near_mask, (3, 3), 0)
    far_mask = cv2.GaussianBlur(far_mask, (3, 3), 0)
    return sky, far, far_mask, near, near_mask


def shift(img: np.ndarray, dx: float) -> np.ndarray:
    """Crop a W-wide window starting at (sub-pixel) x offset dx."""
    m = np.float32([[1, 0, -dx], [0, 1, 0]])
    return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def ball_track():
    """Ball x/y per frame and the frames where it hits the ground/edges."""
    t = np.arange(N_FRAMES) / FPS
    x = 20 + (W - 40) * t / (N_FRAMES / FPS)        # crosses the screen
    period = 1.0                                     # one bounce per second
    phase = (t % period) / period
    ground = 150.0
    y = ground - 95 * 4 * phase * (1 - phase)        # parabola
    hits = [i for i in range(N_FRAMES) if i % FPS == 0]
    return x, y, hits


def render_frames(rng: np.random.Generator) -> list[np.ndarray]:
    sky, far, far_mask, near, near_mask = make_layers(rng)
    bx, by, hits = ball_track()
    frames = []
    for i in range(N_FRAMES):
        f = shift(sky, SKY_DRIFT * i).copy()
        # sun rising slowly on the right, with a glow
        sx, sy = 250 - 4.8 * i / FPS, 70 - 8.4 * i / FPS
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        d = np.sqrt((xx - sx) ** 2 + (yy - sy) ** 2)
        glow = np.exp(-d / 28.0)[..., None]
        f = f * (1 - 0.5 * glow) + np.array([255, 230, 160], np.float32) * 0.5 * glow
        disk = np.clip(15 - d, 0, 1)[..., None]
        f = f * (1 - disk) + np.array([255, 245, 200], np.float32) * disk

        fm = shift(far_mask, PAN_FAR * i)[..., None]
        f = f * (1 - fm) + shift(far, PAN_FAR * i) * fm
        nm = shift(near_mask, PAN_NEAR * i)[..., None]
        f = f * (1 - nm) + shift(near, PAN_NEAR * i) * nm

        # bouncing ball (occludes background), squashed on impact, with shadow
        f = np.ascontiguousarray(np.clip(f, 0, 255))
        cx, cy = float(bx[i]), float(by[i])
        squash = 1.0 + (0.35 if i in hits else 0.0)
        sh = 1 / np.sqrt(1 + (150 - cy) / 40)
        cv2.ellipse(f, (int(cx * 16), int(168 * 16)), (int(16 * 14 * sh), int(16 * 4 * sh)), 0, 0, 360,
                    (25, 45, 20), -1, lineType=cv2.LINE_AA, shift=4)
        rx, ry = 14 * squash, 14 / squash
        cy_draw = cy + (14 - ry)
        cv2.ellipse(f, (int(cx * 16), int(cy_draw * 16)), (int(rx * 16), int(ry * 16)), 0, 0, 360,
                    (200, 40, 40), -1, lineType=cv2.LINE_AA, shift=4)
        # stripe + highlight so the rotation reads
        ang = -i * 12.0
        cv2.ellipse(f, (int(cx * 16), int(cy_draw * 16)), (int(rx * 16), int(ry * 0.35 * 16)), ang, 0, 360,
                    (245, 225, 70), -1, lineType=cv2.LINE_AA, shift=4)
        cv2.circle(f, (int((cx - 5) * 16), int((cy_draw - 5) * 16)), int(3.5 * 16),
                   (255, 235, 235), -1, lineType=cv2.LINE_AA, shift=4)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def make_audio(hits: list[int]) -> np.ndarray:
    """Soft major-chord pad with a melody note on every bounce (mono int16)."""
    n = int(SR * N_FRAMES / FPS)
    t = np.arange(n) / SR
    pad = np.zeros(n)
    for f0 in (130.81, 164.81, 196.00):               # C3 E3 G3
        pad += np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(2 * np.pi * 2 * f0 * t)
    pad *= 0.06 * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t))
    fade = np.minimum(1, np.minimum(t / 0.3, (t[-1] - t) / 0.3))
    pad *= fade
    melody = [523.25, 659.25, 783.99, 1046.50]        # C5 E5 G5 C6
    out = pad
    for k, fr in enumerate(hits):
        s = int(round(fr / FPS * SR))
        L = int(0.35 * SR)
        tt = np.arange(min(L, n - s)) / SR
        f0 = melody[k % len(melody)]
        env = np.exp(-tt * 9) * np.minimum(1, tt / 0.004)
        out[s:s + len(tt)] += 0.35 * env * (np.sin(2 * np.pi * f0 * tt) + 0.25 * np.sin(2 * np.pi * 3 * f0 * tt))
    out = np.clip(out, -1, 1)
    return (out * 32767 * 0.9).astype(np.int16)


def write_clip(path: Path) -> None:
    rng = np.random.default_rng(20240601)
    frames = render_frames(rng)
    _, _, hits = ball_track()
    audio = make_audio(hits)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as td:
        wav = os.path.join(td, "audio.wav")
        with wave.open(wav, "wb") as wf:
            wf.setnchannels(1)
            wf.setsampwidth(2)
            wf.setframerate(SR)
            wf.writeframes(audio.tobytes())
        cmd = [
            ffmpeg, "-y", "-hide_banner", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
            "-i", wav,
            "-map", "0:v:0", "-map", "1:a:0",
            "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
            "-threads", "1", "-x264-params", "threads=1",
            "-c:a", "aac", "-b:a", "96k", "-ac", "1",
            "-frames:v", str(N_FRAMES), "-shortest",
            "-map_metadata", "-1", "-fflags", "+bitexact",
            "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-movflags", "+faststart",
            str(path),
        ]
        data = b"".join(np.ascontiguousarray(fr).tobytes() for fr in frames)
        subprocess.run(cmd, input=data, check=True)


# --------------------------------------------------------------------------- #
# Capture-like clip with a HUD (issue 24: --protect-overlays)
# --------------------------------------------------------------------------- #
HUD_FRAMES = 24
HUD_SPEED = (4.0, 1.5)  # px / frame at 320 px wide: the world scrolls right-down-ish under the HUD


def _world(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A top-down game world (water, sand, grass, rock; trees, houses, a road), BGR float32."""
    h = fractal_noise(height, width, rng, base=5, octaves=6)
    detail = fractal_noise(height, width, rng, base=40, octaves=3)
    world = np.zeros((height, width, 3), np.float32)
    bands = [  # (upper height, BGR low, BGR high)
        (0.32, (120, 60, 20), (170, 110, 40)),    # deep to shallow water
        (0.38, (120, 190, 215), (140, 210, 230)),  # sand
        (0.70, (35, 120, 45), (70, 170, 90)),      # grass
        (1.01, (95, 100, 105), (170, 175, 180)),   # rock
    ]
    low = 0.0
    for top, c0, c1 in bands:
        sel = (h >= low) & (h < top)
        t = np.clip(detail * 0.7 + (h - low) / max(top - low, 1e-6) * 0.3, 0, 1)
        world[sel] = lerp_color(c0, c1, t)[sel]
        low = top
    world = np.ascontiguousarray(world)
    scale = width / 640
    # a winding road
    xs = np.arange(0, width, 4)
    ys = height * 0.5 + height * 0.25 * np.sin(xs / width * 2 * np.pi * 1.5 + rng.random() * 6)
    road = np.stack([xs, ys], 1).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(world, [road], False, (60, 85, 110), max(2, int(9 * scale)), lineType=cv2.LINE_AA)
    for _ in range(int(420 * scale * scale * 4)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if 0.40 < h[y, x] < 0.68:  # trees on grass
            r = max(1, int(rng.integers(3, 7) * scale * 1.6))
            cv2.circle(world, (x, y), r, (20, 70 + int(rng.integers(0, 40)), 25), -1, lineType=cv2.LINE_AA)
    for _ in range(int(40 * scale * scale * 4)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if 0.40 < h[y, x] < 0.68:  # houses with red roofs
            s = max(2, int(rng.integers(6, 11) * scale * 1.6))
            cv2.rectangle(world, (x, y), (x + s, y + s), (40, 50, 170), -1)
            cv2.line(world, (x, y), (x + s, y + s), (30, 35, 120), 1)
    return world


def hud_boxes(width: int, height: int) -> dict[str, tuple[int, int, int, int]]:
    """Where the HUD elements are, as (x0, y0, x1, y1) boxes, for a frame of this size."""
    u = width / 320
    return {
        "score": (int(6 * u), int(4 * u), int(118 * u), int(22 * u)),
        "lives": (width - int(58 * u), int(4 * u), width - int(6 * u), int(22 * u)),
        "health": (int(8 * u), height - int(18 * u), int(98 * u), height - int(8 * u)),
        "minimap": (width - int(62 * u), height - int(50 * u), width - int(8 * u), height - int(8 * u)),
    }


def _draw_hud(frame: np.ndarray, width: int, height: int) -> None:
    u = width / 320
    boxes = hud_boxes(width, height)
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.5 * u
    thick = max(1, round(u))

    def text(label: str, box: tuple[int, int, int, int]) -> None:
        x0, y0, x1, y1 = box
        origin = (x0 + int(2 * u), y1 - int(4 * u))
        cv2.putText(frame, label, origin, font, size, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(frame, label, origin, font, size, (255, 255, 255), thick, cv2.LINE_AA)

    text("SCORE 012450", boxes["score"])
    text("x3 L4", boxes["lives"])
    x0, y0, x1, y1 = boxes["health"]
    cv2.rectangle(frame, (x0, y0), (x1, y1), (20, 20, 20), -1)
    cv2.rectangle(frame, (x0 + 1, y0 + 1), (x0 + 1 + int((x1 - x0 - 2) * 0.7), y1 - 1), (40, 40, 220), -1)
    cv2.rectangle(frame, (x0, y0), (x1, y1), (255, 255, 255), 1)
    x0, y0, x1, y1 = boxes["minimap"]
    cv2.rectangle(frame, (x0, y0), (x1, y1), (50, 40, 30), -1)
    cv2.rectangle(frame, (x0, y0), (x1, y1), (230, 230, 230), 1)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    cv2.circle(frame, (cx, cy), max(1, int(2 * u)), (60, 220, 255), -1)
    cv2.line(frame, (x0 + 4, cy + int(8 * u)), (x1 - 4, cy - int(6 * u)), (110, 140, 160), 1)


def render_hud_frames(
    width: int = 320, height: int = 180, frames: int = HUD_FRAMES, *, hud: bool = True
) -> tuple[list[np.ndarray], np.ndarray]:
    """The HUD clip's frames (BGR uint8) and its HUD mask (uint8, 255 inside every HUD element's box).

    ``hud=False``: the same scrolling world with no HUD (a camera pan with no overlay)."""
    rng = np.random.default_rng(20261207)
    u = width / 320
    dx, dy = HUD_SPEED[0] * u, HUD_SPEED[1] * u
    world = _world(width + int(np.ceil(dx * frames)) + 8, height + int(np.ceil(dy * frames)) + 8, rng)
    out = []
    for i in range(frames):
        m = np.float32([[1, 0, -dx * i], [0, 1, -dy * i]])
        f = cv2.warpAffine(world, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        f = np.ascontiguousarray(np.clip(f, 0, 255).astype(np.uint8))
        if hud:
            _draw_hud(f, width, height)
        out.append(f)
    truth = np.zeros((height, width), np.uint8)
    for x0, y0, x1, y1 in hud_boxes(width, height).values():
        truth[y0 : y1 + 1, x0 : x1 + 1] = 255
    return out, truth


def write_hud_clip(path: Path) -> None:
    frames, _ = render_hud_frames(W, H, HUD_FRAMES)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [
        ffmpeg, "-y", "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
        "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
        "-threads", "1", "-x264-params", "threads=1",
        "-frames:v", str(HUD_FRAMES),
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-movflags", "+faststart",
        str(path),
    ]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)


# --------------------------------------------------------------------------- #
# Style images
# --------------------------------------------------------------------------- #
SW, SH = 512, 384


def style_swirls(path: Path) -> None:
    rng = np.random.default_rng(1889)
    # Background: deep blue night sky with noise.
    ys = np.linspace(0, 1, SH, dtype=np.float32)[:, None]
    n = fractal_noise(SH, SW, rng, base=4, octaves=5)
    img = lerp_color((110, 40, 15), (170, 90, 30), np.broadcast_to(ys, (SH, SW)) * 0.4 + n * 0.6)  # BGR
    img = np.ascontiguousarray(img)

    # Swirl vector field: a few vortices + noise-driven base flow.
    vort = [(150, 120, 90, 1.0), (330, 170, 110, -1.0), (440, 70, 50, 1.0), (90, 300, 70, -1.0)]
    stars = [(440, 70, 24), (60, 60, 14), (250, 40, 12), (200, 230, 10), (380, 300, 12)]
    flow = fractal_noise(SH, SW, rng, base=3, octaves=3) * 2 * np.pi
    yy, xx = np.mgrid[0:SH, 0:SW].astype(np.float32)
    vx = np.cos(flow) * 0.6 + 1.0
    vy = np.sin(flow) * 0.6
    for cx, cy, r, s in vort:
        dx, dy = xx - cx, yy - cy
        d2 = dx * dx + dy * dy
        w = np.exp(-d2 / (2 * r * r)) * 3.0
        vx += s * (-dy) / np.sqrt(d2 + 1) * w
        vy += s * dx / np.sqrt(d2 + 1) * w
    mag = np.sqrt(vx * vx + vy * vy) + 1e-6
    vx /= mag
    vy /= mag

    # Hill silhouette at the bottom (darker strokes) and star brightness map.
    hill = SH - 70 + 25 * np.sin(np.arange(SW) / SW * 2 * np.pi * 1.3 + 0.7)
    bright = np.zeros((SH, SW), np.float32)
    for cx, cy, r in stars:
        bright = np.maximum(bright, np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (r * 1.8) ** 2)))

    blues = np.array([(150, 60, 20), (200, 110, 40), (230, 170, 90), (120, 50, 30), (235, 200, 150)], np.float32)
    yellows = np.array([(60, 210, 250), (90, 230, 255), (40, 170, 230), (150, 240, 255)], np.float32)
    greens = np.array([(40, 70, 30), (30, 50, 25), (70, 100, 40), (20, 35, 20)], np.float32)

    n_strokes = 14000
    pts = rng.random((n_strokes, 2)) * [SW, SH]
    for k in range(n_strokes):
        x, y = pts[k]
        xi, yi = int(x) % SW, int(y) % SH
        below = y > hill[xi]
        b = bright[yi, xi]
        if below:
            col = greens[rng.integers(0, len(greens))]
        elif rng.random() < b * 1.3 or rng.random() < 0.04:
            col = yellows[rng.integers(0, len(yellows))]
        else:
            col = blues[rng.integers(0, len(blues))]
        col = np.clip(col + rng.normal(0, 12, 3), 0, 255)
        length = int(rng.integers(4, 9))
        poly = [(x, y)]
        for _ in range(length):
            xi, yi = int(x) % SW, int(y) % SH
            if below:
                x, y = x + 2.5, y + 0.4 * np.sin(x / 20)
            else:
                x, y = x + 2.5 * vx[yi, xi], y + 2.5 * vy[yi, xi]
            poly.append((x, y))
        arr = np.round(np.array(poly) * 4).astype(np.int32).reshape(-1, 1, 2)
        thick = int(rng.integers(2, 5))
        cv2.polylines(img, [arr], False, tuple(float(c) for c in col), thick,
                      lineType=cv2.LINE_AA, shift=2)
        # thin darker edge on some strokes for a painterly ridge
        if rng.random() < 0.25:
            cv2.polylines(img, [arr + 3], False, tuple(float(c) * 0.6 for c in col), 1,
                          lineType=cv2.LINE_AA, shift=2)
    # Star cores.
    for cx, cy, r in stars:
        cv2.circle(img, (cx, cy), r // 2, (120, 245, 255), -1, lineType=cv2.LINE_AA)
        for a in np.linspace(0, 2 * np.pi, 24, endpoint=False):
            p0 = (int(cx + np.cos(a) * r * 0.3), int(cy + np.sin(a) * r * 0.3))
            p1 = (int(cx + np.cos(a + 0.6) * r), int(cy + np.sin(a + 0.6) * r))
            cv2.line(img, p0, p1, (70, 220, 250), 2, lineType=cv2.LINE_AA)
    # A dark cypress-like flame on the left.
    for j in range(160):
        t = j / 160
        y0 = SH - t * 260
        xw = 22 * (1 - t) + 3
        x0 = 60 + rng.normal(0, xw * 0.5)
        cv2.line(img, (int(x0), int(y0)), (int(x0 + rng.normal(0, 3)), int(y0 - 18)),
                 tuple(float(c) for c in greens[rng.integers(0, len(greens))] * 0.7), 3,
                 lineType=cv2.LINE_AA)
    img = np.clip(img, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def style_mosaic(path: Path) -> None:
    rng = np.random.default_rng(1248)
    n_cells = 170
    # Jittered grid seeds give evenly sized tesserae.
    gx, gy = 17, 10
    seeds = []
    for j in range(gy):
        for i in range(gx):
            seeds.append(((i + 0.15 + 0.7 * rng.random()) * SW / gx,
                          (j + 0.15 + 0.7 * rng.random()) * SH / gy))
    seeds = np.array(seeds[:n_cells], np.float32)
    yy, xx = np.mgrid[0:SH, 0:SW].astype(np.float32)
    d = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2
    order = np.argsort(d, axis=-1)[..., :2]
    labels = order[..., 0]
    d1 = np.take_along_axis(d, order[..., :1], -1)[..., 0]
    d2 = np.take_along_axis(d, order[..., 1:2], -1)[..., 0]

    # Saturated palette in HSV: hue bands loosely arranged as a radial "rose window".
    cx, cy = SW / 2, SH / 2
    ang = np.arctan2(seeds[:, 1] - cy, seeds[:, 0] - cx)
    rad = np.hypot(seeds[:, 0] - cx, seeds[:, 1] - cy) / np.hypot(cx, cy)
    hue = ((ang / (2 * np.pi) + 0.5) * 180 * 2 + rad * 90 + rng.normal(0, 12, len(seeds))) % 180
    sat = rng.uniform(190, 255, len(seeds))
    val = rng.uniform(170, 250, len(seeds))
    hsv = np.stack([hue, sat, val], -1).astype(np.uint8)[None]
    cols = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0].astype(np.float32)
    img = cols[labels]

    # Glass texture: per-pixel mottling + brighter toward the cell centre.
    tex = fractal_noise(SH, SW, rng, base=24, octaves=4)
    centre = np.clip(1 - np.sqrt(d1) / 22, 0, 1)
    img *= (0.78 + 0.3 * tex + 0.18 * centre)[..., None]

    # Lead lines where the two nearest seeds are nearly equidistant.
    edge = (np.sqrt(d2) - np.sqrt(d1)) < 3.2
    edge_f = cv2.GaussianBlur(edge.astype(np.float32), (3, 3), 0)
    img = img * (1 - edge_f[..., None]) + np.array([20, 18, 15], np.float32) * edge_f[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    style_swirls(OUT_DIR / "style_swirls.jpg")
    style_mosaic(OUT_DIR / "style_mosaic.jpg")
    write_clip(OUT_DIR / "clip.mp4")
    write_hud_clip(OUT_DIR / "hud.mp4")
    for name in ("clip.mp4", "hud.mp4", "style_swirls.jpg", "style_mosaic.jpg"):
        p = OUT_DIR / name
        print(f"{p.relative_to(OUT_DIR.parent)}: {p.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
