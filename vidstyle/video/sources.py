"""Frame sources: a video file, a folder of images, a numbered pattern, or one image.

:func:`open_source` decides what the user gave us and returns a
:class:`FrameSource` whose :attr:`FrameSource.info` holds exact facts (frame
count, rational frame rate, per-frame timestamps) and whose
:meth:`FrameSource.read` streams BGR uint8 frames, upright as a player shows
them.

:attr:`FrameSource.spec` is what reading needs (path, size, count, rotation,
frame files): a small picklable record stored in the manifest, from which
:func:`open_reader` opens the same frames again, in another process, without
scanning the input again. A chain reads only its own range that way.

Videos are scanned once at open with OpenCV's ``grab()`` (no colour
conversion) so the frame count and timestamps are exact rather than the
container's estimate. OpenCV (FFmpeg backend) applies the display-matrix
rotation itself when ``CAP_PROP_ORIENTATION_AUTO`` is on (the default); we
turn it on explicitly and only rotate by hand whatever OpenCV did not.
"""

from __future__ import annotations

import bisect
import difflib
import glob
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from pathlib import Path

# OpenCV's FFmpeg backend prints decoder complaints ("[h264 @ 0x...] Invalid NAL
# unit...") straight to stderr, which buries the CLI's one-line errors. We check
# every frame ourselves (count, size, truncation), so silence it unless the user
# set a level. Read when the backend first opens a file, so setting it here works.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

import cv2  # noqa: E402
import numpy as np
from PIL import Image

from vidstyle.errors import InputError
from vidstyle.video.probe import MediaFacts, check_not_truncated, probe_media, snap_fps

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameReader",
    "FrameSource",
    "SourceInfo",
    "SourceKind",
    "SourceSpec",
    "natural_key",
    "open_reader",
    "open_source",
    "read_image",
]


class SourceKind(str, Enum):
    VIDEO = "video"
    FOLDER = "folder"
    PATTERN = "pattern"
    IMAGE = "image"


IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".flv", ".wmv", ".ts", ".mpg", ".mpeg"}

_PRINTF_RE = re.compile(r"%(0?)(\d*)d")
_GLOB_CHARS = ("*", "?", "[")


@dataclass(frozen=True)
class SourceInfo:
    kind: SourceKind
    path: Path  # the input as the user gave it
    width: int  # upright display size of the frames read() yields
    height: int
    frame_count: int  # exact
    fps: Fraction | None  # videos: exact rational; folders/patterns/images: None
    timestamps: tuple[float, ...] | None  # videos: seconds relative to the first frame (first is 0.0)
    is_vfr: bool  # timestamps deviate from i/fps by more than 1/4 frame period somewhere
    start_time: float  # seconds where the video stream starts in the container
    container_start: float  # seconds where the earliest stream starts (ffmpeg's -ss counts from here)
    duration: float | None  # seconds of video (last timestamp + one period); None for images
    audio_streams: int
    files: tuple[Path, ...] | None  # folder/pattern/image: the frame files in order


# ----------------------------------------------------------------------- helpers


def natural_key(text: str) -> tuple:
    """Sort key so that "frame2" < "frame10" (case-insensitive text, numeric digits)."""
    parts = re.split(r"(\d+)", text)
    key = tuple(int(part) if i % 2 else part.lower() for i, part in enumerate(parts))
    return (key, text)


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any image cv2 may return -> 3-channel BGR uint8."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 1:
        image = cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def read_image(path: Path) -> np.ndarray:
    """Read one image file as BGR uint8 (H, W, 3); InputError naming the file if unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InputError(f"Cannot read image {path}; check that it is a valid, non-empty image file")
    return _to_bgr8(image)


def decode_image_strictly(path: Path) -> tuple[np.ndarray | None, str]:
    """Decode an image file with OpenCV and return it (None if it cannot) with what the decoder complained about.

    libjpeg and libpng do not fail on damaged data: they print a warning on
    stderr ("Corrupt JPEG data: premature end of data segment", "Premature end
    of JPEG file") and return an image whose damaged part is grey or garbage.
    Their warnings are the only sign, so stderr is captured at the file
    descriptor level (the C libraries write there directly) while decoding;
    a caller that must not accept damaged images treats any complaint as an
    error. Pillow is no stricter here: it silences libjpeg's warnings.
    """
    data = np.fromfile(str(path), np.uint8)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            finally:
                os.dup2(saved, 2)
            sink.seek(0)
            complaints = sink.read().decode("utf-8", errors="replace")
    finally:
        os.close(saved)
    return image, " ".join(complaints.split())


def _check_indices(indices: Iterable[int], frame_count: int) -> Iterator[int]:
    previous = -1
    for raw in indices:
        index = int(raw)
        if index != raw:
            raise ValueError(f"frame index {raw!r} is not an integer")
        if index <= previous:
            raise ValueError(f"frame indices must be strictly increasing, got {index} after {previous}")
        if index >= frame_count:
            raise ValueError(f"frame index {index} is out of range (the source has {frame_count} frames)")
        previous = index
        yield index


# ------------------------------------------------------------------ frame files


def _folder_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if _is_image_file(p)]
    files.sort(key=lambda p: natural_key(p.name))
    if not files:
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise InputError(f"Folder {folder} contains no image files ({exts}); put the frames there or give a video")
    return files


def _printf_files(spec: str) -> list[Path]:
    pattern_path = Path(spec)
    directory = pattern_path.parent
    name = pattern_path.name
    if _PRINTF_RE.search(str(directory)):
        raise InputError(f"Pattern {spec}: the frame number (%d) must be in the file name, not in the folder")
    tokens = list(_PRINTF_RE.finditer(name))
    if len(tokens) != 1:
        raise InputError(f"Pattern {spec} must contain exactly one frame-number token such as %05d")
    token = tokens[0]
    zero, width = token.group(1), token.group(2)
    if zero and width:
        number = rf"(\d{{{int(width)},}})"
    else:
        number = r"(\d+)"
    regex = re.compile(
        re.escape(name[: token.start()].replace("%%", "%")) + number + re.escape(name[token.end() :].replace("%%", "%")) + r"\Z"
    )
    if not directory.is_dir():
        raise InputError(f"Input not found: {directory} (folder of pattern {spec})")
    matches: list[tuple[int, str, Path]] = []
    fmt = "%" + zero + width + "d"
    for entry in directory.iterdir():
        m = regex.match(entry.name)
        if not m or not _is_image_file(entry):
            continue
        digits = m.group(1)
        value = int(digits)
        if zero and width and fmt % value != digits:
            continue
        matches.append((value, entry.name, entry))
    if not matches:
        raise InputError(f"No image files match pattern {spec}; check the folder and the number format (e.g. %05d)")
    matches.sort(key=lambda item: (item[0], natural_key(item[1])))
    return [item[2] for item in matches]


def _glob_files(spec: str) -> list[Path]:
    found = [Path(p) for p in glob.glob(spec)]
    files = [p for p in found if _is_image_file(p)]
    files.sort(key=lambda p: natural_key(str(p)))
    if not files:
        raise InputError(f"No image files match {spec}; check the pattern (quote it so the shell does not expand it)")
    return files


# ------------------------------------------------------------------ the source


@dataclass(frozen=True)
class SourceSpec:
    """What reading an input needs, without scanning it again: picklable, and stored in the manifest."""

    kind: SourceKind
    path: Path
    width: int  # upright display size of the frames
    height: int
    frame_count: int
    rotation: int = 0  # videos: clockwise degrees to turn each frame after OpenCV's own rotation
    files: tuple[Path, ...] | None = None  # folder/pattern/image: the frame files in order
    # Videos: OpenCV's CAP_PROP_POS_MSEC of every frame, as the scan saw it. A
    # reader that jumps ahead identifies the frames it lands on by them (see
    # FrameReader._seek); None (older manifests): it decodes every frame instead.
    timestamps_ms: tuple[float, ...] | None = None


_ROTATE_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _open_capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise InputError(f"OpenCV cannot open video {path}; convert it to MP4 (H.264) or give a frame folder")
    # OpenCV's FFmpeg backend honours the display matrix when this is on (the default); make it explicit.
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def _opencv_rotation(capture: cv2.VideoCapture) -> int:
    """Clockwise degrees OpenCV applies by itself (0 when auto-orientation is off)."""
    if not capture.get(cv2.CAP_PROP_ORIENTATION_AUTO):
        return 0
    meta = capture.get(cv2.CAP_PROP_ORIENTATION_META)
    if not np.isfinite(meta):
        return 0
    return int(round(meta / 90.0)) % 4 * 90


# A read more than this many frames ahead of the decoder seeks instead of decoding every frame in between.
_SEEK_AHEAD = 48
# How far before the wanted frame a seek aims (frames), at first: a keyframe
# seek that overshoots is retried this much earlier again, doubled each time.
_SEEK_MARGIN = 24
_SEEK_TRIES = 4
_MS_TOLERANCE = 0.5  # two timestamps name the same frame when they are this close (ms)


class FrameReader:
    """Streams frames of one input by index. Use as a context manager; ``close()`` releases the decoder.

    A video stays open between reads: a read that starts at or after the
    frame where the last one stopped goes on from there (a chain after the
    one before it, or after the cut-detection pass), an earlier start opens
    the file again, and a start far ahead seeks (exactly: see ``_seek``).
    One read at a time. ``frames_decoded`` counts the frames the decoder
    delivered, to show that a chain near the end of a long video does not
    decode the whole video first.
    """

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self._capture: cv2.VideoCapture | None = None
        self._position = 0  # index of the next frame the open capture's grab() delivers
        self._closed = False
        self.frames_decoded = 0
        stamps = spec.timestamps_ms
        # Seeking needs every frame to have its own timestamp, in order (streams without pts have none).
        self._seekable = bool(stamps) and all(b - a > _MS_TOLERANCE for a, b in zip(stamps, stamps[1:]))  # type: ignore[arg-type]

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._release()

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._position = 0

    def read(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, BGR uint8 frame)`` for strictly increasing source indices, streaming."""
        if self._closed:
            raise ValueError("read() on a closed frame reader")
        if self.spec.kind is SourceKind.VIDEO:
            return self._read_video(indices)
        return self._read_files(indices)

    def _check_size(self, frame: np.ndarray, what: str) -> None:
        height, width = frame.shape[:2]
        expected_w, expected_h = self.spec.width, self.spec.height
        if (width, height) == (expected_w, expected_h):
            return
        if self.spec.kind is SourceKind.VIDEO:
            advice = "videos that change resolution mid-stream are not supported; re-encode to one size"
        else:
            advice = "all frames of a folder must share one size"
        raise InputError(f"{what} is {width}x{height} but {expected_w}x{expected_h} was expected; {advice}")

    def _read_files(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        files = self.spec.files or ()
        for index in _check_indices(indices, self.spec.frame_count):
            path = files[index]
            frame = read_image(path)
            self._check_size(frame, f"Frame file {path}")
            yield index, frame

    def _grab(self, capture: cv2.VideoCapture, position: int, index: int) -> None:
        if not capture.grab():
            raise InputError(
                f"{self.spec.path} ended after {position} frames but frame {index} was expected; the file may be truncated"
            )
        self.frames_decoded += 1

    def _seek(self, capture: cv2.VideoCapture, position: int, index: int) -> int:
        """Move ``capture`` so that its next grab() delivers frame ``index``; return its new position.

        Near frames are reached by decoding every frame in between (grab()
        only, no colour conversion). Far ones by a seek that need not be exact:
        OpenCV's seek (CAP_PROP_POS_MSEC, a keyframe seek and decoding on from
        there) lands on a frame whose number it estimates from the frame rate,
        which is wrong for some codecs, variable frame rates and streams that
        start late. So we aim a little earlier, read the timestamp of the frame
        we landed on, look it up in the scan's timestamps to know exactly which
        frame it is, and decode forward from there. Landing after the wanted
        frame, or on a timestamp the scan never saw, aims earlier again; after
        a few tries the file is decoded from its start, as without a seek.
        """
        stamps = self.spec.timestamps_ms
        if index - position > _SEEK_AHEAD and self._seekable and stamps is not None:
            margin = _SEEK_MARGIN
            for _ in range(_SEEK_TRIES):
                aim = max(0, index - margin)
                landed = self._land(capture, stamps, aim)
                if landed is not None and landed < index:
                    position = landed + 1
                    break
                margin *= 4
            else:  # never landed before it: start again from the first frame
                self._release()
                self._capture = capture = _open_capture(self.spec.path)
                position = 0
        while position < index:
            self._grab(capture, position, index)
            position += 1
        return position

    def _land(self, capture: cv2.VideoCapture, stamps: tuple[float, ...], aim: int) -> int | None:
        """Seek near frame ``aim``, grab one frame, and return its index (None when unknown)."""
        capture.set(cv2.CAP_PROP_POS_MSEC, stamps[aim] - stamps[0])
        if not capture.grab():
            return None
        self.frames_decoded += 1
        landed_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
        found = bisect.bisect_left(stamps, landed_ms - _MS_TOLERANCE)
        if found < len(stamps) and abs(stamps[found] - landed_ms) <= _MS_TOLERANCE:
            return found
        return None

    def _read_video(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        path = self.spec.path
        for index in _check_indices(indices, self.spec.frame_count):
            if self._capture is None or index < self._position:
                self._release()
                self._capture = _open_capture(path)
            capture = self._capture
            try:
                self._position = self._seek(capture, self._position, index)
                capture = self._capture  # a failed seek may have reopened it
                self._grab(capture, self._position, index)
                self._position += 1
                self._check_timestamp(capture, index)
                ok, frame = capture.retrieve()
            except BaseException:
                self._release()  # its position is unknown now
                raise
            if not ok or frame is None:
                raise InputError(f"Cannot decode frame {index} of {path}; the file may be damaged")
            frame = _to_bgr8(frame)
            if self.spec.rotation:
                frame = cv2.rotate(frame, _ROTATE_CODES[self.spec.rotation])
            self._check_size(frame, f"Frame {index} of {path}")
            yield index, frame


    def _check_timestamp(self, capture: cv2.VideoCapture, index: int) -> None:
        """Every frame read is the one asked for: its timestamp is the scan's for that index."""
        stamps = self.spec.timestamps_ms
        if not self._seekable or stamps is None or index >= len(stamps):
            return
        got = float(capture.get(cv2.CAP_PROP_POS_MSEC))
        if abs(got - stamps[index]) > _MS_TOLERANCE:
            raise InputError(
                f"Frame {index} of {self.spec.path} decoded with time {got:.3f} ms but the scan saw {stamps[index]:.3f} ms; "
                "the file may have changed since the run started: pass --restart to start over."
            )


def open_reader(spec: SourceSpec) -> FrameReader:
    """Open the frames described by ``spec`` (from a FrameSource, possibly in another process)."""
    return FrameReader(spec)


class FrameSource:
    """One input: exact facts about it (``info``) and its frames. Use as a context manager."""

    def __init__(self, info: SourceInfo, *, rotation: int = 0, timestamps_ms: tuple[float, ...] | None = None) -> None:
        self.info = info
        # Absolute paths: the spec is read back by `vidstyle resume` and by
        # workers, which may run in another folder.
        self.spec = SourceSpec(
            kind=info.kind,
            path=Path(info.path).absolute(),
            width=info.width,
            height=info.height,
            frame_count=info.frame_count,
            rotation=rotation,
            files=tuple(Path(f).absolute() for f in info.files) if info.files is not None else None,
            timestamps_ms=timestamps_ms,
        )
        self._reader = FrameReader(self.spec)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def __repr__(self) -> str:
        i = self.info
        return f"FrameSource({i.kind.value}, {str(i.path)!r}, {i.width}x{i.height}, {i.frame_count} frames)"

    def read(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, BGR uint8 frame)`` for strictly increasing source indices, streaming."""
        return self._reader.read(indices)


# ------------------------------------------------------------------ opening


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as it will be decoded (EXIF rotation applied), from its header only."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.format in ("JPEG", "TIFF", "WEBP", "PNG") and image.getexif().get(_EXIF_ORIENTATION) in (5, 6, 7, 8):
                width, height = height, width  # turned a quarter: OpenCV decodes it upright
            return width, height
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InputError(f"Frame file {path} is not a readable image; replace or remove it") from None


_EXIF_ORIENTATION = 0x0112


def _check_frame_sizes(files: list[Path]) -> None:
    """Every frame file has the first frame's size: read from the headers, before any frame is stylized.

    A folder with one odd frame would otherwise fail only when that frame is
    reached, maybe hours into the run. Headers cost about a tenth of a
    millisecond per file.
    """
    if len(files) < 2:
        return
    size = _header_size(files[0])
    odd: list[tuple[Path, tuple[int, int]]] = []
    for path in files[1:]:
        found = _header_size(path)
        if found != size:
            odd.append((path, found))
    if odd:
        path, (width, height) = odd[0]
        more = f" ({len(odd)} frames differ)" if len(odd) > 1 else ""
        raise InputError(
            f"Frame file {path} is {width}x{height} but {files[0].name} is {size[0]}x{size[1]}{more}; "
            "all frames of a folder must share one size: resize or remove the odd ones"
        )


def _image_source(kind: SourceKind, path: Path, files: list[Path]) -> FrameSource:
    first = read_image(files[0])
    _check_frame_sizes(files)
    info = SourceInfo(
        kind=kind,
        path=path,
        width=int(first.shape[1]),
        height=int(first.shape[0]),
        frame_count=len(files),
        fps=None,
        timestamps=None,
        is_vfr=False,
        start_time=0.0,
        container_start=0.0,
        duration=None,
        audio_streams=0,
        files=tuple(files),
    )
    return FrameSource(info)


def _detect_vfr(timestamps: list[float], fps: Fraction | None) -> bool:
    if fps is None or fps <= 0 or len(timestamps) < 2:
        return False
    period = 1.0 / float(fps)
    return any(abs(t - i * period) > period / 4 for i, t in enumerate(timestamps))


def _fallback_fps(capture_fps: float, timestamps: list[float]) -> Fraction | None:
    if np.isfinite(capture_fps) and capture_fps > 0:
        return snap_fps(capture_fps)
    if len(timestamps) >= 2:
        step = float(np.median(np.diff(timestamps)))
        if step > 0:
            return snap_fps(1.0 / step)
    return None


def _video_source(path: Path) -> FrameSource:
    facts: MediaFacts = probe_media(path)
    if not facts.has_video:
        raise InputError(f"{path} has no video stream; give a video file, an image, or a frame folder")
    check_not_truncated(path, facts)
    capture = _open_capture(path)
    try:
        manual = (facts.rotation - _opencv_rotation(capture)) % 360
        capture_fps = capture.get(cv2.CAP_PROP_FPS)
        raw_ms: list[float] = []
        first: np.ndarray | None = None
        while capture.grab():
            raw_ms.append(float(capture.get(cv2.CAP_PROP_POS_MSEC)))
            if first is None:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    raise InputError(f"Cannot decode the first frame of {path}; the file may be damaged")
                first = _to_bgr8(frame)
    finally:
        capture.release()
    if not raw_ms or first is None:
        raise InputError(f"{path} has no decodable video frames; check the file or re-encode it")
    if manual:
        first = cv2.rotate(first, _ROTATE_CODES[manual])
    height, width = int(first.shape[0]), int(first.shape[1])

    origin = raw_ms[0]
    timestamps = [(t - origin) / 1000.0 for t in raw_ms]
    fps = facts.fps if facts.fps is not None else _fallback_fps(capture_fps, timestamps)
    if fps is not None:
        duration: float | None = timestamps[-1] + 1.0 / float(fps)
    elif len(timestamps) >= 2:
        duration = timestamps[-1] + (timestamps[-1] - timestamps[0]) / (len(timestamps) - 1)
    else:
        duration = facts.duration
    info = SourceInfo(
        kind=SourceKind.VIDEO,
        path=path,
        width=width,
        height=height,
        frame_count=len(timestamps),
        fps=fps,
        timestamps=tuple(timestamps),
        is_vfr=_detect_vfr(timestamps, fps),
        start_time=facts.video_start,
        container_start=facts.start_time,
        duration=duration,
        audio_streams=len(facts.audio_streams),
        files=None,
    )
    return FrameSource(info, rotation=manual, timestamps_ms=tuple(raw_ms))


def open_source(spec: str | Path) -> FrameSource:
    """Open a video file, a folder of images, a printf/glob pattern, or one image."""
    text = os.fspath(spec)
    if not text:
        raise InputError("No input given; pass a video file, an image, a frame folder, or a pattern")
    path = Path(text).expanduser()
    if path.is_dir():
        return _image_source(SourceKind.FOLDER, path, _folder_files(path))
    if path.is_file():
        if path.stat().st_size == 0:
            raise InputError(f"{path} is empty (0 bytes): an interrupted copy or download? Copy it again or give another input")
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return _image_source(SourceKind.IMAGE, path, [path])
        return _video_source(path)
    if path.exists():
        raise InputError(f"Input {path} is neither a file nor a folder; give a video, an image, or a frame folder")
    if _PRINTF_RE.search(path.name) or _PRINTF_RE.search(str(path.parent)):
        return _image_source(SourceKind.PATTERN, path, _printf_files(str(path)))
    if any(ch in text for ch in _GLOB_CHARS):
        return _image_source(SourceKind.PATTERN, path, _glob_files(str(path)))
    raise InputError(f"Input not found: {path}; {_nearby(path)}")


_INPUTS_HELP = "give a video file, an image, a folder of frames or a pattern such as frames/%05d.png"


def _nearby(path: Path) -> str:
    """What to do about a path that does not exist: the close names in its folder, or what the folder holds."""
    folder = path.parent
    if not folder.is_dir():
        missing = folder
        while not missing.parent.is_dir() and missing.parent != missing:
            missing = missing.parent
        return f"the folder {missing} does not exist either; {_INPUTS_HELP}"
    try:
        entries = sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))
    except OSError:
        return _INPUTS_HELP
    # Compared without extensions (which would make every .mp4 look alike), ignoring case.
    stems: dict[str, list[str]] = {}
    for name in entries:
        stems.setdefault(Path(name).stem.lower(), []).append(name)
    close = [name for stem in difflib.get_close_matches(path.stem.lower(), stems, n=3, cutoff=0.6) for name in stems[stem]][:3]
    where = "" if str(folder) in ("", ".") else f" in {folder}"
    if close:
        return f"did you mean {' or '.join(close)}{where}?"
    usable = [
        name + ("/" if (folder / name).is_dir() else "")
        for name in entries
        if (folder / name).is_dir() or Path(name).suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    ]
    if usable:
        shown = ", ".join(usable[:5]) + (f" and {len(usable) - 5} more" if len(usable) > 5 else "")
        return f"{folder if where else 'this folder'} holds {shown}"
    return f"{folder if where else 'this folder'} holds no video, image or folder; {_INPUTS_HELP}"
