"""Many clips in one command: several videos, a glob of videos or a folder of videos into one output folder.

    clip_inputs(inputs)                    the clips the inputs name, or None for one run as before
    stylize_clips(clips, folder, ...)      every clip through pipeline/run.py stylize, one after another
    resume_clips(folder, ...)              the same for the clips of a folder's batch record not yet done
    is_batch_folder(path)                  a folder that holds a batch record

What is a clip: a video file. A folder that holds any image is a frame
sequence, as it always was; a folder with videos and no image is a folder of
clips (its videos, not its subfolders). A glob that matches images is a frame
pattern, as it always was; one that matches videos and no image names clips.
Several inputs on the command line must each be a video or name videos.

Each clip is a run of its own, through the single-run function, with its own
work dir beside its output (``OUT/x.mp4.vidstyle``), so each is resumable and
refused or allowed exactly as one run would be (pipeline/ownership.py). The
output of ``dir/x.ext`` is ``OUT/x.ext`` when vidstyle writes that container
(.mp4 .mkv .mov .webm), else ``OUT/x.mp4``. Two clips with the same stem are
refused, whatever their folders or extensions.

Before any work: the clips are opened (a bad file is reported then, and the
others go on), and every output that vidstyle may not write is refused for
the whole batch at once, so a user never waits for a refusal. The folder's
record (``.vidstyle-batch.json``, written atomically and entered in the ledger
of files vidstyle wrote) keeps the clips, their settings and which are done,
so `vidstyle resume OUT` and rerunning the same command go on with the clips
not done, and a rerun after new clips arrived stylizes only those.

Clips run one after another; ``--workers`` spreads each clip's chains over
the workers (docs/game-captures.md says why not clips over workers). This
module never prints and never exits: progress is typed events, the result a
:class:`BatchResult` whose ``exit_code`` the CLI returns.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from vidstyle import written as written_files
from vidstyle.config import Settings, free_settings, settings_from_json, settings_to_json
from vidstyle.errors import InputError, Interrupted, NotOurs, OutputError, UsageError, VidstyleError
from vidstyle.files import write_json_atomic
from vidstyle.invocation import shell_command
from vidstyle.methods.base import MethodFactory
from vidstyle.methods.optimize import check_init_image, optimize_method
from vidstyle.pipeline.events import FrameDone, ignore
from vidstyle.pipeline.fast import check_fast_settings
from vidstyle.pipeline.ownership import guarded_for
from vidstyle.pipeline.plan import make_plan
from vidstyle.pipeline.run import stylize
from vidstyle.pipeline.workdir import WorkDir, default_work_dir
from vidstyle.video.encode import VIDEO_OUTPUT_EXTENSIONS
from vidstyle.video.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, natural_key, open_source

__all__ = [
    "BATCH_RECORD",
    "PARTLY_FAILED",
    "BatchProgress",
    "BatchResult",
    "ClipFinished",
    "ClipResult",
    "ClipStarted",
    "ClipStatus",
    "clip_inputs",
    "is_batch_folder",
    "resume_clips",
    "stylize_clips",
]

BATCH_RECORD = ".vidstyle-batch.json"
_RECORD_VERSION = 1
PARTLY_FAILED = 3  # the exit code of a batch in which some clips failed and the others were written


class ClipStatus(str, Enum):
    DONE = "done"  # stylized by this command
    DONE_BEFORE = "done before"  # done by an earlier command with the same settings; left as it is
    FAILED = "failed"
    STOPPED = "stopped"  # interrupted with its state saved
    NOT_STARTED = "not started"  # the batch stopped before it


@dataclass(frozen=True)
class ClipStarted:
    index: int  # 1-based
    count: int
    input: Path
    output: Path
    frames: int  # planned


@dataclass(frozen=True)
class ClipFinished:
    """A clip's end: done, failed (``message`` is the error's one line) or stopped."""

    index: int
    count: int
    input: Path
    output: Path
    status: ClipStatus
    frames: int
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class BatchProgress:
    """Frames done over the whole batch and its ETA (the current clip's, plus the clips after it at the batch's rate so far)."""

    clip: int  # 1-based index of the clip in progress
    count: int
    frames_done: int
    frames_total: int
    eta_seconds: float | None


@dataclass(frozen=True)
class ClipResult:
    input: Path
    output: Path
    status: ClipStatus
    frames: int  # planned (0 when the clip could not be opened)
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class BatchResult:
    folder: Path
    clips: tuple[ClipResult, ...]
    seconds: float
    stopped: str | None = None  # the message of an interrupted batch, which says how to resume

    @property
    def failed(self) -> tuple[ClipResult, ...]:
        return tuple(clip for clip in self.clips if clip.status is ClipStatus.FAILED)

    @property
    def exit_code(self) -> int:
        """0 every clip done; 130 stopped (state saved); 3 some clips failed and others were written; 1 every clip failed."""
        if self.stopped is not None:
            return 130
        if not self.failed:
            return 0
        written = any(clip.status in (ClipStatus.DONE, ClipStatus.DONE_BEFORE) for clip in self.clips)
        return PARTLY_FAILED if written else 1


Handler = Callable[[object], None]


# ------------------------------------------------------------------ what the inputs name


def _videos_in(folder: Path) -> tuple[list[Path], bool]:
    """The video files in ``folder`` (natural order) and whether it holds any image file."""
    videos: list[Path] = []
    images = False
    for entry in folder.iterdir():
        if entry.name.startswith(".") or not entry.is_file():
            continue
        suffix = entry.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            images = True
        elif suffix in VIDEO_EXTENSIONS:
            videos.append(entry)
    videos.sort(key=lambda p: natural_key(p.name))
    return videos, images


def _is_glob(text: str) -> bool:
    return any(mark in text for mark in "*?[") and not Path(text).expanduser().exists()


def _expand(text: str) -> tuple[list[Path], bool]:
    """(clips, True) when ``text`` names clips (a folder or glob of videos); ([path], False) for anything else."""
    path = Path(text).expanduser()
    if path.is_dir():
        videos, images = _videos_in(path)
        if videos and not images:
            return videos, True
        return [path], False
    if _is_glob(text) and "%" not in path.name:
        found = [Path(p) for p in glob.glob(str(path))]
        files = [p for p in found if p.is_file() and not p.name.startswith(".")]
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in files):
            return [path], False  # a frame pattern, as before
        videos = sorted((p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS), key=lambda p: natural_key(str(p)))
        if videos:
            return videos, True
    return [path], False


def clip_inputs(inputs: Sequence[str]) -> list[Path] | None:
    """The clips ``inputs`` name, or None when they are one input of a single run (a video, frames, a pattern, an image).

    Several inputs, a folder of videos (no images) and a glob that matches
    videos (no images) are clips. A path given twice counts once. UsageError
    for a frame sequence or an image among several inputs, for a missing
    input among several, and for a glob or folder among several that names
    no video.
    """
    if not inputs:
        raise UsageError("No input given; pass a video, a folder of frames or of videos, a pattern or an image.")
    expanded = [(text, *_expand(text)) for text in inputs]
    if len(inputs) == 1 and not expanded[0][2]:
        return None
    clips: list[Path] = []
    seen: set[str] = set()
    for text, paths, named_clips in expanded:
        if not named_clips:
            path = paths[0]
            if path.is_dir():
                raise UsageError(f"{text} is a folder of frames; several inputs must be videos, so stylize it on its own.")
            if not path.exists():
                if _is_glob(text):
                    raise UsageError(f"{text} matches no video; check the pattern (quote it so that vidstyle expands it).")
                raise InputError(f"Input not found: {path}; check the name (several inputs must each be a video).")
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                raise UsageError(f"{text} is an image; several inputs must be videos, so stylize it on its own.")
        for path in paths:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                clips.append(path)
    return clips


def output_for(clip: Path, folder: Path) -> Path:
    """``folder/<stem><ext>``: the clip's own container where vidstyle writes it, else .mp4."""
    suffix = clip.suffix.lower()
    return folder / (clip.stem + (suffix if suffix in VIDEO_OUTPUT_EXTENSIONS else ".mp4"))


def _check_stems(clips: Sequence[Path]) -> None:
    by_stem: dict[str, Path] = {}
    for clip in clips:
        key = clip.stem.casefold()  # x.mp4 and X.mp4 are one file on a case-insensitive disk
        if key in by_stem:
            raise UsageError(
                f"{by_stem[key]} and {clip} would both be written as {clip.stem}: outputs are named after the clip; "
                "rename one, or stylize them into different --output folders."
            )
        by_stem[key] = clip


def _check_folder(folder: Path) -> None:
    """The output folder exists or can be made (its parent exists); a file or a video name is refused."""
    if folder.suffix.lower() in VIDEO_OUTPUT_EXTENSIONS | IMAGE_EXTENSIONS and not folder.is_dir():
        raise UsageError(
            f"Several clips need a folder as --output (one video per clip, named after it); {folder.name} is a file name, "
            "so pass a folder name without an extension."
        )
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder; choose a folder as --output for several clips.")
    if not folder.exists() and not folder.parent.is_dir():
        raise OutputError(f"The folder {folder.parent} does not exist; create it first or choose another --output.")


def _check_settings(settings: Settings) -> None:
    """Settings a batch cannot take (each names one file), and those every clip would fail alike, before any work."""
    if settings.run.work_dir is not None:
        raise UsageError("--work-dir names one run's work dir; with several clips each keeps its own beside its output (OUT/x.mp4.vidstyle), so leave it out.")
    if settings.method.save_model is not None:
        raise UsageError("--save-model writes one network; with several clips stylize them one at a time, or save it from one clip and pass it to the others with --model.")
    check_init_image(settings.optimize.init)
    check_fast_settings(settings, image_output=False)


# ------------------------------------------------------------------ the folder's record


def _look(settings: Settings) -> dict[str, object]:
    """The settings that decide a clip's output, flattened ("model.max_size": 256); the free ones left out."""
    free = free_settings()
    data = settings_to_json(settings.with_absolute_paths())
    return {
        f"{section}.{name}": value
        for section, fields in data.items()
        for name, value in fields.items()
        if f"{section}.{name}" not in free
    }


def _reads(settings: Settings) -> dict[str, object]:
    """Size and modification time of every file the settings make a run read (styles, weights, mask ...), by path.

    Part of what the record compares: a style image edited since a clip was
    done makes that clip not done (its output was made from the old one).
    """
    stamps: dict[str, object] = {}
    for _, path in guarded_for(".", settings).reads:
        try:
            stamps[f"file {path}"] = _input_stamp(path)
        except OSError:
            stamps[f"file {path}"] = None
    return stamps


def _differences(old: dict[str, object], new: dict[str, object]) -> list[str]:
    return [
        f"{key.removeprefix('file ')} changed" if key.startswith("file ") else f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def _input_stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _stamp_or_none(path: Path) -> list[int] | None:
    return _input_stamp(path) if path.exists() else None


_STARTED = "started"  # a clip's status in the record from its start to its end


@dataclass
class _Record:
    """The batch record of an output folder: settings, and per output name its input, status and input stamp."""

    path: Path
    settings: Settings | None
    clips: dict[str, dict[str, object]]
    reads: dict[str, object]  # _reads of the settings the clips were done with

    @classmethod
    def read(cls, folder: Path) -> _Record | None:
        path = folder / BATCH_RECORD
        if not (path.exists() or path.is_symlink()):
            return None
        if not written_files.is_ours(path):
            raise NotOurs(
                f"{path} is not a batch record vidstyle wrote (or it was changed since), so vidstyle neither reads nor "
                "replaces it; choose another --output folder."
            )
        try:
            data = json.loads(path.read_text())
            if data.get("version") != _RECORD_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            settings = settings_from_json(data["settings"])
            clips = {str(entry["output"]): {k: v for k, v in entry.items() if k != "output"} for entry in data["clips"]}
            reads = dict(data["reads"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise OutputError(f"{path} cannot be read ({error}); move it away to start the batch afresh.") from None
        return cls(path=path, settings=settings, clips=clips, reads=reads)

    def write(self) -> None:
        assert self.settings is not None
        write_json_atomic(
            self.path,
            {"tool": "vidstyle", "version": _RECORD_VERSION, "settings": settings_to_json(self.settings), "reads": self.reads,
             "clips": [{"output": name, **entry} for name, entry in self.clips.items()]},  # a list: the batch's order
        )
        written_files.record(self.path)

    def is_done(self, output: Path, clip: Path) -> bool:
        """The record's clip ``output`` was made from ``clip`` as it is now, and is as vidstyle wrote it.

        A clip the record has as started is done too when its output appeared
        (or changed) since it started and vidstyle wrote it: the batch was
        killed between the clip's end and the record's, or the clip's own
        work dir was resumed on its own.
        """
        entry = self.clips.get(output.name)
        if entry is None or entry.get("input") != str(clip.resolve()) or entry.get("status") not in (_STARTED, ClipStatus.DONE.value):
            return False
        try:
            unchanged = entry.get("stamp") == _input_stamp(clip)
            if entry.get("status") == _STARTED and entry.get("before") == _stamp_or_none(output):
                return False
        except OSError:
            return False
        work = WorkDir(default_work_dir(output))
        return unchanged and written_files.is_ours(output) and not (work.exists() and not work.is_finished())

    def unfinished(self) -> list[str]:
        return [name for name, entry in self.clips.items() if entry.get("status") != ClipStatus.DONE.value]


def is_batch_folder(path: Path) -> bool:
    """A folder with a batch record (`vidstyle resume` on it resumes the batch)."""
    return path.is_dir() and (path / BATCH_RECORD).is_file()


# ------------------------------------------------------------------ the batch


@dataclass
class _Clip:
    input: Path
    output: Path
    frames: int = 0
    error: str = ""  # why it could not be opened or planned
    done_before: bool = False


def stylize_clips(
    clips: Sequence[Path],
    folder: str | Path,
    *,
    settings: Settings,
    on_event: Handler = ignore,
    method_factory: MethodFactory = optimize_method,
    reraise_bugs: bool = False,
    resuming: bool = False,
) -> BatchResult:
    """Stylize every clip into ``folder`` (one output each, see the module's docstring); return what became of each.

    Raises (before any work) UsageError for settings a batch cannot take and
    for two clips with one stem; NotOurs/OutputError when an output, a work
    dir or the record in ``folder`` is not one vidstyle may write, listing
    every such file at once. A clip that fails later is reported in its
    ClipFinished and the result, and the others go on. A stop (Ctrl-C,
    SIGTERM) ends the batch with the stopped clip's state saved
    (``BatchResult.stopped``). ``reraise_bugs``: let an unexpected exception
    (a bug) through instead of reporting it as the clip's failure.
    """
    started = time.perf_counter()
    folder = Path(folder).expanduser().resolve()
    if not clips:
        raise UsageError("No clips to stylize.")
    _check_folder(folder)
    _check_settings(settings)
    settings = settings.with_absolute_paths()  # the record's: `vidstyle resume OUT` may run from another folder
    clips = [Path(clip).expanduser().resolve() for clip in clips]
    _check_stems(clips)
    batch = [_Clip(input=clip, output=output_for(clip, folder)) for clip in clips]
    record = _Record.read(folder) if folder.is_dir() else None
    record, continuing = _settle_record(record, folder, settings, resuming=resuming)
    _check_outputs(batch, record, settings, keep_done=resuming or continuing or not settings.run.overwrite)
    _probe(batch, settings)
    clip_settings = settings.replace(run=replace(settings.run, work_dir=None))
    folder.mkdir(exist_ok=True)
    for clip in batch:
        entry = record.clips.setdefault(clip.output.name, {})
        entry["input"] = str(clip.input)
        if not clip.done_before:
            entry.update(status="failed" if clip.error else "pending", message=clip.error)
    record.write()
    return _Batch(batch, folder, record, clip_settings, on_event, method_factory, reraise_bugs, started).run()


def resume_clips(
    folder: str | Path,
    *,
    on_event: Handler = ignore,
    overrides: Callable[[Settings], Settings] | None = None,
    restart: bool = False,
    method_factory: MethodFactory = optimize_method,
    reraise_bugs: bool = False,
) -> BatchResult:
    """Go on with the batch recorded in ``folder``: every clip of its record not done, with the stored settings.

    ``restart``: each such clip discards its unfinished work and starts over.
    A clip done already is left as it is; --overwrite the first command had
    is not acted on again (it was, for the clips it started).
    """
    root = Path(folder).expanduser().resolve()
    record = _Record.read(root) if root.is_dir() else None
    if record is None or record.settings is None:
        raise UsageError(f"{root} holds no batch of clips ({BATCH_RECORD}); pass the work dir of a run (<output>.vidstyle) or the output folder of several clips.")
    settings = record.settings
    settings = settings.replace(run=replace(settings.run, restart=restart))
    if overrides is not None:
        settings = overrides(settings)
    clips = [Path(str(entry["input"])) for entry in record.clips.values()]
    return stylize_clips(
        clips, root, settings=settings, on_event=on_event, method_factory=method_factory, reraise_bugs=reraise_bugs, resuming=True
    )


def _settle_record(record: _Record | None, folder: Path, settings: Settings, *, resuming: bool) -> tuple[_Record, bool]:
    """The record this batch goes on with (the folder's, when its settings are these, else a new one),
    and whether it continues an unfinished batch (then, as a rerun of one interrupted run, even
    --overwrite leaves the clips done so far alone).

    An unfinished batch made with other settings is refused (its clips would
    be left half done under a record that no longer names them) unless
    --restart starts the new one over it.
    """
    path = folder / BATCH_RECORD
    if record is None or record.settings is None:
        return _Record(path=path, settings=settings, clips={}, reads=_reads(settings)), False
    if resuming:
        record.settings = settings  # the stored settings, with the resume's overrides (device, workers)
        return record, True
    changed = _differences({**_look(record.settings), **record.reads}, {**_look(settings), **_reads(settings)})
    if not changed:
        record.settings = settings
        return record, bool(record.unfinished())
    unfinished = [name for name in record.unfinished() if (folder / name).exists() or default_work_dir(folder / name).exists()]
    if unfinished and not settings.run.restart:
        raise OutputError(
            f"{folder} holds an unfinished batch ({', '.join(unfinished[:3])}{' ...' if len(unfinished) > 3 else ''}) made with "
            f"other settings: {'; '.join(changed[:4])}. Finish it with: {shell_command('resume', folder)}; or pass --restart "
            "to start this batch over it (only the unfinished clips' work is discarded); or choose another --output folder."
        )
    return _Record(path=path, settings=settings, clips={}, reads=_reads(settings)), False


def _check_outputs(batch: list[_Clip], record: _Record, settings: Settings, *, keep_done: bool) -> None:
    """Refuse, for the whole batch at once, every output and work dir this batch may not write or use.

    An output of someone else's is refused whatever the flags; one vidstyle
    wrote is skipped when the record says this batch's settings made it from
    this very input (unless ``keep_done`` is False: --overwrite on a finished
    batch), resumed when its work dir is unfinished, and otherwise replaced
    only with --overwrite (as one run's output is).
    """
    inputs = {os.path.realpath(clip.input) for clip in batch}
    folder = os.path.realpath(batch[0].output.parent)
    among = [clip.input for clip in batch if os.path.realpath(clip.input.parent) == folder]
    if among:  # the outputs would be taken for clips by the next run of the same command
        raise UsageError(f"--output {folder} holds clips of this batch ({among[0].name}); choose another folder for their outputs.")
    foreign: list[str] = []
    existing: list[str] = []
    for clip in batch:
        output = clip.output
        if os.path.realpath(output) in inputs:
            raise UsageError(f"{output} is one of the inputs; choose another --output folder.")
        work = WorkDir(default_work_dir(output))
        try:
            work.check_usable()
        except OutputError as error:  # worded for --work-dir, which a batch does not take
            raise type(error)(f"{str(error).split('; ')[0]}; move it away or choose another --output folder.") from None
        if not (output.exists() or output.is_symlink()):
            continue
        if output.is_dir() or not written_files.is_ours(output):
            foreign.append(str(output))
            continue
        if keep_done and record.is_done(output, clip.input):
            clip.done_before = True
            continue
        unfinished = work.exists() and not work.is_finished()
        if not unfinished and not settings.run.overwrite:
            existing.append(output.name)
    if foreign:
        also = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise NotOurs(
            f"{foreign[0]}{also} already exist{'s' if len(foreign) == 1 else ''} and vidstyle did not write "
            f"{'it' if len(foreign) == 1 else 'them'}, so it will not replace {'it' if len(foreign) == 1 else 'them'}; "
            "nothing was stylized; choose another --output folder."
        )
    if existing:
        names = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise OutputError(
            f"{names} already exist{'s' if len(existing) == 1 else ''} in {batch[0].output.parent} (made with other settings or "
            "from another input); pass --overwrite to redo them, or choose another --output folder."
        )


def _probe(batch: list[_Clip], settings: Settings) -> None:
    """Open each clip not done: its planned frame count (for the overall ETA), or why it cannot be used."""
    for clip in batch:
        if clip.done_before:
            continue
        try:
            with open_source(clip.input) as source:
                clip.frames = make_plan(source.info, replace(settings.select, max_size=None)).frame_count  # a count: any size
        except VidstyleError as error:
            clip.error = str(error)
        except Exception as error:  # noqa: BLE001 - a decoder's own failure on a damaged file is this clip's, not the batch's
            clip.error = f"cannot be read ({type(error).__name__}: {error})"


class _Batch:
    def __init__(
        self,
        batch: list[_Clip],
        folder: Path,
        record: _Record,
        settings: Settings,
        on_event: Handler,
        method_factory: MethodFactory,
        reraise_bugs: bool,
        started: float,
    ) -> None:
        self.batch = batch
        self.folder = folder
        self.record = record
        self.settings = settings
        self.on_event = on_event
        self.method_factory = method_factory
        self.reraise_bugs = reraise_bugs
        self.started = started
        self.count = len(batch)
        self.total = sum(clip.frames for clip in batch if not clip.error and not clip.done_before)
        self.done_frames = 0  # of the clips finished by this command
        self.stylized = 0  # frames stylized by this command, for the rate of the ETA
        self.work_started: float | None = None

    def run(self) -> BatchResult:
        results: list[ClipResult] = []
        for index, clip in enumerate(self.batch, start=1):
            if clip.done_before:
                results.append(ClipResult(clip.input, clip.output, ClipStatus.DONE_BEFORE, self._recorded_frames(clip), 0.0))
                self.on_event(ClipFinished(index, self.count, clip.input, clip.output, ClipStatus.DONE_BEFORE, results[-1].frames, 0.0))
            elif clip.error:  # reported at once, before the clips that can run
                results.append(ClipResult(clip.input, clip.output, ClipStatus.FAILED, 0, 0.0, clip.error))
                self.on_event(ClipFinished(index, self.count, clip.input, clip.output, ClipStatus.FAILED, 0, 0.0, clip.error))
        for index, clip in enumerate(self.batch, start=1):
            if clip.done_before or clip.error:
                continue
            result, stopped = self._one(index, clip)
            results.append(result)
            if stopped is not None:
                rest = [c for c in self.batch[index:] if not (c.done_before or c.error)]
                results += [ClipResult(c.input, c.output, ClipStatus.NOT_STARTED, c.frames, 0.0) for c in rest]
                return self._result(results, stopped)
        return self._result(results, None)

    def _result(self, results: list[ClipResult], stopped: str | None) -> BatchResult:
        order = {clip.output: n for n, clip in enumerate(self.batch)}
        results.sort(key=lambda r: order[r.output])
        return BatchResult(folder=self.folder, clips=tuple(results), seconds=time.perf_counter() - self.started, stopped=stopped)

    def _recorded_frames(self, clip: _Clip) -> int:
        frames = self.record.clips.get(clip.output.name, {}).get("frames", 0)
        return frames if isinstance(frames, int) else 0

    def _eta(self, clip_eta: float | None, clip_index: int) -> float | None:
        """The current clip's ETA, plus the clips after it at this batch's seconds per frame so far (their cold starts and setup included)."""
        if clip_eta is None or self.work_started is None or self.stylized <= 0:
            return None
        rate = (time.perf_counter() - self.work_started) / self.stylized
        later = sum(c.frames for c in self.batch[clip_index:] if not (c.done_before or c.error))
        return clip_eta + rate * later

    def _one(self, index: int, clip: _Clip) -> tuple[ClipResult, str | None]:
        """Stylize one clip through the single-run function; (its result, the batch's stop message or None)."""
        self.on_event(ClipStarted(index, self.count, clip.input, clip.output, clip.frames))
        self.on_event(BatchProgress(index, self.count, self.done_frames, self.total, None))
        if self.work_started is None:
            self.work_started = time.perf_counter()
        begun = time.perf_counter()

        def forward(event: object) -> None:
            self.on_event(event)
            if isinstance(event, FrameDone):
                self.stylized += 1
                eta = self._eta(event.eta_seconds, index)
                self.on_event(BatchProgress(index, self.count, self.done_frames + event.frames_done, self.total, eta))

        entry = self.record.clips[clip.output.name]
        entry.update(status=_STARTED, before=_stamp_or_none(clip.output), stamp=_input_stamp(clip.input))
        self.record.write()
        stop: str | None = None
        try:
            result = stylize(clip.input, clip.output, settings=self.settings, on_event=forward, method_factory=self.method_factory)
        except Interrupted as error:
            status, message = ClipStatus.STOPPED, str(error)
            stop = (
                f"Stopped during clip {index} of {self.count} ({clip.input.name}); its state is saved. "
                f"Resume the clips not done with: {shell_command('resume', self.folder)}"
            )
        except KeyboardInterrupt:  # the second Ctrl-C: the record already says started
            raise
        except VidstyleError as error:
            status, message = ClipStatus.FAILED, str(error)
        except Exception as error:  # a bug: this clip's failure, the others go on
            if self.reraise_bugs:
                raise
            status, message = ClipStatus.FAILED, f"unexpected {type(error).__name__}: {error} (a bug in vidstyle; rerun with VIDSTYLE_DEBUG=1 for the traceback)"
        else:
            status, message = ClipStatus.DONE, ""
            clip.frames = result.frames
        seconds = time.perf_counter() - begun
        self.done_frames += clip.frames
        entry.update(status=_STARTED if status is ClipStatus.STOPPED else status.value, message=message, frames=clip.frames)
        self.record.write()
        self.on_event(ClipFinished(index, self.count, clip.input, clip.output, status, clip.frames, seconds, message))
        return ClipResult(clip.input, clip.output, status, clip.frames, seconds, message), stop
