"""Where stylized frames go: a video, a folder of numbered PNGs, or one image.

:func:`output_kind` reads the kind from the output name; :class:`Output`
handles the output as a whole (exists? remove, sweep what a killed run left;
a folder's own record of the frames vidstyle wrote there, so that it never
removes a frame it did not write);
a *sink* takes the frames of one chain (pipeline/chain.py) and says which of
them an earlier run already finished:

* **video**: each frame goes to the work dir as a working-size PNG; a segment
  whose frames are all written is encoded (video/encode.py) and its PNGs are
  deleted, so the work dir holds at most one segment of PNGs per running chain.
  A segment's last PNG stays until the next frame, which starts from it, is
  done. A frame is finished when its segment is encoded, or its PNG is
  complete and its record logged; a chain continues after the last finished
  frame of its unbroken run from its start (frames are encoded in order).
* **folder**: each frame goes to ``<output>/frame_NNNNNN.png`` (at the output
  size) and, at the working size, to the work dir, where only the latest is
  kept (the next frame starts from it), with each frame's canvas ring in
  ``rings/`` when the plan has a margin. Every frame stands alone: a deleted
  or torn one is redone, the others are kept.
* **image**: one file, written at the end; nothing to resume.

The frames a sink takes are working frames on their canvas (--edge-margin,
pipeline/plan.py): the work dir stores them so, since the next frame starts
from them, and each is cropped back to the working size as it is written.
When the output size is not the working size, each frame is brought to it
guided by its full-size source frame (video/upsample.py) when it is written:
the chain hands the source frame along. The stylized working-size frames stay
what the work dir stores and what the next frame starts from; the
output-size copies of a video's segment wait in the work dir's scaled/ until
the segment is encoded. A frame whose copy is missing there (a run killed
between the two writes) is made again from the source, read once more.

With --mask or --protect-overlays (video/masks.py, video/overlays.py), each
frame is then blended with its source by the mask as it is written, so a masked-out pixel is the source's; the work dir
still keeps the unmasked working-size frame, which the next frame starts from.
A video's frames are then encoded from copies in scaled/ at any output size.

Writes are atomic and ordered so that a kill anywhere is safe: a record is
logged only for a complete file, and a PNG is removed only once nothing
needs it. The fault points ``torn``, ``record`` and ``encode`` (vidstyle/faults.py)
sit where those steps happen.

The video layer does not import the pipeline: a sink reads the plan, its
chains and segments through the small read-only shapes below (pipeline/chains.py's
RunPlan, Chain and Segment have them), and reports an encoded segment with
:class:`SegmentEncoded`, which pipeline/events.py passes on with the run's events.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from vidstyle.config import DeviceChoice
from vidstyle.errors import OutputError, ResumeError, UsageError
from vidstyle.faults import FaultPoint, Faults
from vidstyle.files import (
    encode_image,
    png_is_complete,
    remove_files,
    sweep_temporaries,
    temporary_for,
    write_bytes_atomic,
    write_image_atomic,
)
from vidstyle.model.device import resolve_device
from vidstyle.video.encode import VIDEO_OUTPUT_EXTENSIONS, VideoContainer, container_for, encode_segment
from vidstyle.video.masks import FrameMasks, MaskSpec, composite, open_frame_masks
from vidstyle.video.overlays import OverlaySpec
from vidstyle.video.pixels import add_margin, crop_margin, resize
from vidstyle.video.sources import IMAGE_EXTENSIONS, SourceSpec, open_reader, read_image
from vidstyle.video.upsample import upsample_to_source


@dataclass(frozen=True)
class SegmentEncoded:
    segment: int
    frames: int
    seconds: float = 0.0  # the encode's wall time


class SegmentSpan(Protocol):
    """What a sink reads of a segment (pipeline/chains.py Segment)."""

    @property
    def index(self) -> int: ...

    @property
    def start(self) -> int: ...

    @property
    def stop(self) -> int: ...

    @property
    def positions(self) -> range: ...


class ChainSpan(Protocol):
    """What a sink reads of a chain (pipeline/chains.py Chain)."""

    @property
    def start(self) -> int: ...

    @property
    def stop(self) -> int: ...

    @property
    def positions(self) -> range: ...

    @property
    def segments(self) -> Sequence[SegmentSpan]: ...

    def segment_at(self, position: int) -> SegmentSpan: ...


class FrameTiming(Protocol):
    """What a sink reads of the frame plan (pipeline/plan.py FramePlan): the output's timing."""

    @property
    def fps(self) -> Fraction: ...

    @property
    def durations(self) -> tuple[float, ...] | None: ...

    @property
    def source_indices(self) -> tuple[int, ...]: ...


class SinkPlan(Protocol):
    """What a sink reads of the run's plan (pipeline/chains.py RunPlan)."""

    @property
    def frames(self) -> FrameTiming: ...

    @property
    def frame_count(self) -> int: ...

    @property
    def working_size(self) -> tuple[int, int]: ...

    @property
    def output_size(self) -> tuple[int, int]: ...

    @property
    def margin(self) -> int: ...

    @property
    def canvas_size(self) -> tuple[int, int]: ...


# Receives the sink's SegmentEncoded (a chain's event handler does).
EncodedHandler = Callable[[SegmentEncoded], None]


class OutputKind(str, Enum):
    VIDEO = "video"
    FOLDER = "folder"
    IMAGE = "image"


def output_kind(output: Path) -> OutputKind:
    suffix = output.suffix.lower()
    if suffix in VIDEO_OUTPUT_EXTENSIONS:
        return OutputKind.VIDEO
    if suffix in IMAGE_EXTENSIONS and not output.is_dir():
        return OutputKind.IMAGE
    if suffix and not output.is_dir():
        raise UsageError(
            f"Cannot tell what to write for {output.name}: use a video (.mp4 .mkv .mov .webm), "
            "an image (.png .jpg .webp .tif) or a folder name without an extension."
        )
    return OutputKind.FOLDER


def output_frame_name(position: int) -> str:
    return f"frame_{position + 1:06d}.png"


def segment_path(segments: Path, index: int) -> Path:
    return segments / f"{index:05d}.mp4"


# A folder output's own record, inside it: which run wrote it and how many
# frames (frame_000001.png up to frame_N). It outlives the work dir, so a later
# --overwrite or --restart knows what vidstyle may remove; a dot-file, so folder
# sources (video/sources.py) and frame patterns do not see it.
OUTPUT_RECORD = ".vidstyle-output.json"


@dataclass(frozen=True)
class Output:
    """The output as a whole: a video file, a folder of frames or an image file."""

    kind: OutputKind
    path: Path

    @property
    def container(self) -> VideoContainer:
        return container_for(self.path)

    def exists(self) -> bool:
        if self.kind is OutputKind.FOLDER:
            return self.path.is_dir() and any(self.path.iterdir())
        return self.path.exists() or self.path.is_symlink()

    @property
    def record_path(self) -> Path:
        return self.path / OUTPUT_RECORD

    def record(self) -> dict[str, object] | None:
        """A folder output's record (see OUTPUT_RECORD); None when it has none (or it is a link or not ours)."""
        path = self.record_path
        if self.kind is not OutputKind.FOLDER or path.is_symlink() or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict) or data.get("tool") != "vidstyle" or not isinstance(data.get("frames"), int):
            return None
        return data

    def is_ours(self) -> bool:
        """A folder output vidstyle made its record in (other outputs are files the user named)."""
        return self.record() is not None

    def remove(self) -> None:
        """Remove the output: a file; of a folder, only the frames its record says vidstyle wrote (and the record)."""
        if self.kind is OutputKind.FOLDER:
            record = self.record()
            if record is None:
                return  # not ours: nothing in it is removed, whatever the flag
            frames = int(record["frames"])  # type: ignore[call-overload]
            remove_files(self.path / output_frame_name(i) for i in range(frames))  # a link is unlinked, not followed
            self.record_path.unlink(missing_ok=True)
        else:
            self.path.unlink(missing_ok=True)

    def prepare(self, *, run_id: str, frames: int) -> None:
        """Before the first frame: make a folder output and its record (a file output is written at the end)."""
        if self.kind is OutputKind.FOLDER:
            self.path.mkdir(exist_ok=True)
            if self.record() != {"tool": "vidstyle", "run_id": run_id, "frames": frames}:
                write_bytes_atomic(
                    self.record_path,
                    (json.dumps({"tool": "vidstyle", "run_id": run_id, "frames": frames}, sort_keys=True) + "\n").encode(),
                )

    def sweep_leftovers(self) -> None:
        """Remove what a killed run left beside the output.

        Video: the encoder's partial output and segment list (``.<name>.*``,
        see video/encode.py); unlinking also detaches an orphaned ffmpeg still
        writing there. Folder: temporaries of frame files.
        """
        if self.kind is OutputKind.VIDEO:
            remove_files(self.path.parent.glob(f".{glob.escape(self.path.name)}.*"))
        elif self.kind is OutputKind.FOLDER:
            sweep_temporaries(self.path, "frame_*.png")

    def missing_frames(self, plan: SinkPlan) -> list[int]:
        """Folder outputs: positions whose frame file is absent or incomplete."""
        return [p for p in range(plan.frame_count) if not png_is_complete(self.path / output_frame_name(p), plan.output_size)]


@dataclass(frozen=True)
class SinkSpec:
    """Where a run's frames go: picklable, so a chain in another process opens the same sink."""

    kind: OutputKind
    output: Path
    work: Path | None  # the work dir (video and folder outputs); the sink uses its frames/, segments/, scaled/
    crf: int
    keep_frames: bool
    source: SourceSpec | None = None  # to read a source frame again (a video segment's missing output-size copy)
    device: str = DeviceChoice.CPU.value  # where frames are upsampled to the output size: the run's --device
    mask: MaskSpec | None = None  # --mask: each written frame is blended with its source by it (video/masks.py)
    overlays: OverlaySpec | None = None  # --protect-overlays auto: the shots' detected masks, blended the same way

    @property
    def masked(self) -> bool:
        return self.mask is not None or (self.overlays is not None and self.overlays.any)

    def needs_source(self, plan: SinkPlan) -> bool:
        """Whether a written frame is made with its full-size source frame (upsampling guided by it, or a mask)."""
        return plan.output_size != plan.working_size or self.masked


class Ledger(Protocol):
    """The per-frame log (pipeline/workdir.py FrameLog)."""

    def record(self, position: int, entry: dict[str, object]) -> None: ...

    def is_recorded(self, position: int) -> bool: ...


class Sink(Protocol):
    def done(self, chain: ChainSpan) -> set[int]:
        """Positions of ``chain`` an earlier run finished."""
        ...

    def stored(self, position: int) -> np.ndarray:
        """The stored working-size frame at ``position`` (a warm frame after it starts from it)."""
        ...

    def settle(self, chain: ChainSpan, first: int) -> None:
        """Before ``chain`` goes on at ``first``: finish what a killed run left (segments to encode, PNGs to drop)."""
        ...

    def write(self, position: int, image: np.ndarray, record: dict[str, object], source: np.ndarray | None = None) -> None:
        """Store a stylized working-size frame, then its record; ``source``: its input frame at full size."""
        ...

    def advance(self, chain: ChainSpan, position: int) -> None:
        """After ``position`` is done: drop PNGs nothing needs any more, encode a completed segment."""
        ...


def open_sink(
    spec: SinkSpec, plan: SinkPlan, *, ledger: Ledger | None, faults: Faults, on_event: EncodedHandler
) -> Sink:
    if spec.kind is OutputKind.IMAGE:
        return ImageSink(spec, plan)
    if ledger is None or spec.work is None:
        raise ValueError(f"a {spec.kind.value} output needs a work dir and a ledger")
    if spec.kind is OutputKind.VIDEO:
        return VideoSink(spec, plan, ledger=ledger, faults=faults, on_event=on_event)
    return FolderSink(spec, plan, ledger=ledger, faults=faults)


class _WorkFrames:
    """Working-size PNGs in the work dir's frames/."""

    def __init__(self, spec: SinkSpec, plan: SinkPlan, ledger: Ledger, faults: Faults) -> None:
        assert spec.work is not None
        self.spec = spec
        self.plan = plan
        self.ledger = ledger
        self.faults = faults
        self.frames = spec.work / "frames"
        self.frames.mkdir(parents=True, exist_ok=True)

    def frame_path(self, position: int) -> Path:
        return self.frames / f"{position:06d}.png"

    def has_frame(self, position: int) -> bool:
        return png_is_complete(self.frame_path(position), self.plan.canvas_size)

    def write_frame(self, position: int, image: np.ndarray) -> None:
        path = self.frame_path(position)
        data = encode_image(image, ".png")
        self.faults.tear(position, temporary_for(path), data)
        write_bytes_atomic(path, data)

    def drop(self, positions: range | list[int]) -> None:
        if not self.spec.keep_frames:
            remove_files(self.frame_path(p) for p in positions)


def to_output_size(
    spec: SinkSpec, plan: SinkPlan, image: np.ndarray, source: np.ndarray | None, *, position: int = 0, masks: FrameMasks | None = None
) -> np.ndarray:
    """A stylized working frame as it is written: cropped out of its canvas (the plan's margin), at the output size,
    guided by its source frame when it has one, then blended with that source by the masks (``masks``: the sink's
    reader of ``spec.mask`` and ``spec.overlays``)."""
    image = crop_margin(image, plan.margin)
    if source is not None and (source.shape[1], source.shape[0]) != plan.output_size:
        source = resize(source, plan.output_size)
    if plan.output_size == plan.working_size:
        scaled = image
    elif source is None:
        scaled = resize(image, plan.output_size)
    else:
        scaled = upsample_to_source(image, source, device=resolve_device(DeviceChoice(spec.device)))
    if masks is None or source is None:
        return scaled
    weights = masks.weights(position, plan.frames.source_indices[position], plan.output_size)
    return scaled if weights is None else composite(scaled, source, weights)


def open_masks(spec: SinkSpec) -> FrameMasks | None:
    return open_frame_masks(spec.mask, spec.overlays)


def read_sources(spec: SinkSpec, plan: SinkPlan, positions: Sequence[int]) -> dict[int, np.ndarray]:
    """The full-size source frames at ``positions`` (increasing), read again; empty when the sink has no source."""
    if spec.source is None or not positions:
        return {}
    by_index = {plan.frames.source_indices[p]: p for p in positions}
    with open_reader(spec.source) as reader:
        return {by_index[index]: frame for index, frame in reader.read(sorted(by_index))}


class VideoSink(_WorkFrames):
    def __init__(self, spec: SinkSpec, plan: SinkPlan, *, ledger: Ledger, faults: Faults, on_event: EncodedHandler) -> None:
        super().__init__(spec, plan, ledger, faults)
        assert spec.work is not None
        self.segments = spec.work / "segments"
        self.segments.mkdir(parents=True, exist_ok=True)
        self.scaled = spec.work / "scaled"
        self.container = container_for(spec.output)
        self.on_event = on_event
        # Frames are encoded from output-size copies when they differ from the stored ones (another size, a
        # mask, or a margin to crop).
        self.copies = spec.needs_source(plan) or plan.margin > 0
        self.masks = open_masks(spec)

    def encoded(self, segment: SegmentSpan) -> bool:
        return segment_path(self.segments, segment.index).is_file()

    def done(self, chain: ChainSpan) -> set[int]:
        done: set[int] = set()
        for segment in chain.segments:
            if self.encoded(segment):
                done.update(segment.positions)
                continue
            for position in segment.positions:
                if not (self.has_frame(position) and self.ledger.is_recorded(position)):
                    return done
                done.add(position)
        return done

    def stored(self, position: int) -> np.ndarray:
        path = self.frame_path(position)
        if not png_is_complete(path, self.plan.canvas_size):
            raise ResumeError(f"{path} is needed to continue but is missing; pass --restart to start over.")
        return read_image(path)

    def settle(self, chain: ChainSpan, first: int) -> None:
        # A kill can land between a segment's last frame and its encode, during
        # the encode, or between the encode and the removal of its PNGs. Frame
        # ``first - 1`` stays when the chain goes on: the next frame starts from it.
        keep = first - 1 if first < chain.stop else None
        for segment in chain.segments:
            if segment.stop > first:
                break
            if not self.encoded(segment):
                self._encode(segment)
            self.drop([p for p in segment.positions if p != keep])

    def scaled_path(self, position: int) -> Path:
        return self.scaled / f"{position:06d}.png"

    def write(self, position: int, image: np.ndarray, record: dict[str, object], source: np.ndarray | None = None) -> None:
        if self.copies and (source is not None or not self.spec.needs_source(self.plan)):
            # The output-size copy first: a frame that counts as done always has it.
            self.scaled.mkdir(parents=True, exist_ok=True)
            write_image_atomic(self.scaled_path(position), self._copy(position, image, source))
        self.write_frame(position, image)
        self.faults.at(FaultPoint.RECORD, position)
        self.ledger.record(position, record)

    def advance(self, chain: ChainSpan, position: int) -> None:
        segment = chain.segment_at(position)
        if position == segment.start and position > chain.start:
            self.drop([position - 1])  # the previous segment's last frame was kept only to start this one
        if position == segment.stop - 1:
            self._encode(segment)
            last_of_chain = position == chain.stop - 1
            self.drop(segment.positions if last_of_chain else range(segment.start, segment.stop - 1))

    def _encode(self, segment: SegmentSpan) -> None:
        frames = [self.frame_path(p) for p in segment.positions]
        durations = self.plan.frames.durations
        scaled: list[Path] = []
        if self.copies:
            # The encoder takes files: the output-size copies made by write()
            # live until this segment is encoded; one a kill left unmade is
            # made here from frames/ and the source.
            self.scaled.mkdir(parents=True, exist_ok=True)
            scaled = [self.scaled_path(p) for p in segment.positions]
            missing = [p for p, path in zip(segment.positions, scaled) if not png_is_complete(path, self.plan.output_size)]
            sources = read_sources(self.spec, self.plan, missing) if self.spec.needs_source(self.plan) else {}
            for p in missing:
                image = read_image(self.frame_path(p))
                write_image_atomic(self.scaled_path(p), self._copy(p, image, sources.get(p)))
            frames = scaled
        started = time.perf_counter()
        try:
            encode_segment(
                frames,
                segment_path(self.segments, segment.index),
                fps=self.plan.frames.fps,
                durations=durations[segment.start : segment.stop] if durations is not None else None,
                crf=self.spec.crf,
                container=self.container,
                while_running=self.faults.watch(FaultPoint.ENCODE, segment.index),
            )
        finally:
            remove_files(scaled)
        self.on_event(SegmentEncoded(segment=segment.index, frames=len(frames), seconds=time.perf_counter() - started))

    def _copy(self, position: int, image: np.ndarray, source: np.ndarray | None) -> np.ndarray:
        return to_output_size(self.spec, self.plan, image, source, position=position, masks=self.masks)


class FolderSink(_WorkFrames):
    def __init__(self, spec: SinkSpec, plan: SinkPlan, *, ledger: Ledger, faults: Faults) -> None:
        super().__init__(spec, plan, ledger, faults)
        self.masks = open_masks(spec)
        assert spec.work is not None
        # With a margin, each frame's canvas ring (its interior blacked out: a few kB as PNG) stays in the work
        # dir's rings/, so a frame redone in the middle starts from the canvas it had, not one made again.
        self.rings = spec.work / "rings" if plan.margin > 0 else None

    def ring_path(self, position: int) -> Path:
        assert self.rings is not None
        return self.rings / f"{position:06d}.png"

    def output_frame(self, position: int) -> Path:
        return self.spec.output / output_frame_name(position)

    def done(self, chain: ChainSpan) -> set[int]:
        return {
            p
            for p in chain.positions
            if png_is_complete(self.output_frame(p), self.plan.output_size) and self.ledger.is_recorded(p)
        }

    def stored(self, position: int) -> np.ndarray:
        if self.has_frame(position):
            return read_image(self.frame_path(position))
        # Only the latest working copy is kept; a frame redone in the middle
        # starts from the output frame instead (the same pixels unless
        # --output-size source upsampled it; then shrunk back, nearly so). With
        # --mask its masked-out part is the source's: that one frame starts from
        # a blend there, and what it writes is masked again all the same. Its
        # canvas (--edge-margin) is the ring stored with it (made again from
        # its edge pixels if that is gone).
        picture = resize(read_image(self.output_frame(position)), self.plan.working_size)
        margin = self.plan.margin
        if self.rings is None:
            return picture
        ring = self.ring_path(position)
        if not png_is_complete(ring, self.plan.canvas_size):
            return add_margin(picture, margin)
        canvas = read_image(ring)
        canvas[margin:-margin, margin:-margin] = picture
        return canvas

    def settle(self, chain: ChainSpan, first: int) -> None:
        pass  # every frame file stands alone; the run swept the temporaries

    def write(self, position: int, image: np.ndarray, record: dict[str, object], source: np.ndarray | None = None) -> None:
        self.write_frame(position, image)
        if self.rings is not None:
            margin = self.plan.margin
            ring = image.copy()
            ring[margin:-margin, margin:-margin] = 0
            self.rings.mkdir(parents=True, exist_ok=True)
            write_image_atomic(self.ring_path(position), ring)
        if source is None and self.spec.needs_source(self.plan):
            source = read_sources(self.spec, self.plan, [position]).get(position)
        written = to_output_size(self.spec, self.plan, image, source, position=position, masks=self.masks)
        write_image_atomic(self.output_frame(position), written)
        self.faults.at(FaultPoint.RECORD, position)
        self.ledger.record(position, record)

    def advance(self, chain: ChainSpan, position: int) -> None:
        # The output frames are the result; the working copy is kept only for
        # the latest frame of the chain, which the next one starts from.
        if position > chain.start:
            self.drop([position - 1])
        if position == chain.stop - 1:
            self.drop([position])


class ImageSink:
    """One image file, written when its one frame is done."""

    def __init__(self, spec: SinkSpec, plan: SinkPlan) -> None:
        self.spec = spec
        self.plan = plan
        self.masks = open_masks(spec)

    def done(self, chain: ChainSpan) -> set[int]:
        return set()  # an image is not resumed; an existing one was refused or --overwrite given

    def stored(self, position: int) -> np.ndarray:
        raise OutputError("An image output keeps no frames to continue from.")

    def settle(self, chain: ChainSpan, first: int) -> None:
        pass

    def write(self, position: int, image: np.ndarray, record: dict[str, object], source: np.ndarray | None = None) -> None:
        if source is None and self.spec.needs_source(self.plan):
            source = read_sources(self.spec, self.plan, [position]).get(position)
        write_image_atomic(self.spec.output, to_output_size(self.spec, self.plan, image, source, position=position, masks=self.masks))

    def advance(self, chain: ChainSpan, position: int) -> None:
        pass
