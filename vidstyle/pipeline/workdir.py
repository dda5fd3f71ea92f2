"""The work directory of a resumable run and its manifest.

Layout (``<output>.vidstyle/`` by default)::

    manifest.json        schema version, input/output, full settings, fingerprints, frame plan
    frames/000123.png    stylized frames at working size (at most one segment of them)
    log/00000.json       per-frame records (steps, losses, seconds), one file per segment
    segments/00000.mp4   encoded segments (video outputs)
    finished.json        written once the output is complete (kept only with --keep-work)

Every file is written atomically (pipeline/atomic.py). A frame is done when
its PNG is complete and its record is in the log, or when its segment is
encoded. The manifest is written before the first frame; a later run compares
its own fingerprint with the stored one and refuses to mix settings.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2

from vidstyle import __version__
from vidstyle.config import Settings, settings_from_json, settings_to_json
from vidstyle.errors import ResumeError, VidstyleError
from vidstyle.pipeline.atomic import remove_files, sweep_temporaries, write_json_atomic
from vidstyle.pipeline.plan import FramePlan

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
FINISHED = "finished.json"

# Settings that do not change a single output pixel or frame; they may differ
# between the interrupted run and the resumed one.
_FREE_SETTINGS = {
    "run.work_dir",
    "run.keep_frames",
    "run.keep_work",
    "run.restart",
    "run.overwrite",
    "model.device",
    "model.weights",  # the weights' content hash is compared instead of their path
}


# Settings added after schema 1, with the value that reproduces what runs made
# before them did. A manifest without such a setting was made with that value
# (settings_from_json fills in the dataclass default, which must equal it), so
# an old interrupted run still resumes instead of being refused as changed.
_BEFORE_THEY_EXISTED: dict[str, object] = {
    "settings.model.network": "vgg19",
    "settings.style.preserve_colors": False,
}


def default_work_dir(output: Path) -> Path:
    return output.with_name(output.name.rstrip("/") + ".vidstyle")


def input_fingerprint(files: list[Path]) -> dict[str, object]:
    """Size plus hashes of the first and last MiB of every input file: cheap even for hour-long captures.

    ``files`` are the files the source reads (the video, or the frames of a
    folder or pattern), so a pattern input, which is no file itself, works too,
    and a stray file beside the frames does not count.
    """
    digest = hashlib.sha256()
    total = 0
    for file in files:
        size = file.stat().st_size
        total += size
        digest.update(f"{file.name}:{size}".encode())
        with file.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            if size > 2 << 20:
                handle.seek(-(1 << 20), 2)
                digest.update(handle.read())
    return {"files": len(files), "bytes": total, "sha256": digest.hexdigest()}


def flatten(prefix: str, value: object, into: dict[str, object]) -> dict[str, object]:
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    else:
        into[prefix] = value
    return into


@dataclass(frozen=True)
class Manifest:
    input: str
    output: str
    settings: Settings
    fingerprint: dict[str, object]  # input, styles, weights hashes + every setting that changes pixels
    plan: FramePlan
    output_kind: str  # "video" or "folder"

    def to_json(self) -> dict[str, object]:
        return {
            "schema": SCHEMA_VERSION,
            "vidstyle_version": __version__,
            "input": self.input,
            "output": self.output,
            "output_kind": self.output_kind,
            "settings": settings_to_json(self.settings),
            "fingerprint": self.fingerprint,
            "plan": self.plan.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object], *, where: Path) -> Manifest:
        if "schema" not in data:
            raise ResumeError(f"{where} is damaged (no schema version); rerun the stylize command with --restart to start over.")
        if data.get("schema") != SCHEMA_VERSION:
            raise ResumeError(
                f"{where} was written by another vidstyle version (schema {data.get('schema')}, "
                f"this one reads {SCHEMA_VERSION}); rerun the stylize command with --restart to start over."
            )
        try:
            return cls(
                input=str(data["input"]),
                output=str(data["output"]),
                output_kind=str(data["output_kind"]),
                settings=settings_from_json(data["settings"]),  # type: ignore[arg-type]
                fingerprint=dict(data["fingerprint"]),  # type: ignore[call-overload]
                plan=FramePlan.from_json(data["plan"]),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as error:
            raise ResumeError(f"{where} is damaged ({type(error).__name__}: {error}); rerun the stylize command with --restart to start over.") from error
        except VidstyleError as error:  # stored settings that no longer validate
            raise ResumeError(f"{where} holds settings this version rejects ({error}); rerun the stylize command with --restart to start over.") from error


def differences(old: dict[str, object], new: dict[str, object]) -> list[str]:
    """Human-readable 'name: old -> new' lines for every differing fingerprint entry."""
    flat_old, flat_new = flatten("", old, {}), flatten("", new, {})
    lines = []
    for key in sorted(set(flat_old) | set(flat_new)):
        if key.removeprefix("settings.") in _FREE_SETTINGS:
            continue
        before = flat_old.get(key, _BEFORE_THEY_EXISTED.get(key, "(unset)"))
        after = flat_new.get(key, "(unset)")
        if before != after:
            lines.append(f"{key.removeprefix('settings.')}: {before!r} -> {after!r}")
    return lines


class WorkDir:
    """Files of one run: manifest, frames, per-frame log, segments."""

    def __init__(self, root: Path, *, segment_frames: int) -> None:
        self.root = root
        self.segment_frames = segment_frames
        self.frames = root / "frames"
        self.log_dir = root / "log"
        self.segments = root / "segments"
        self.scaled = root / "scaled"
        self._log_cache: dict[int, dict[str, dict[str, object]]] = {}

    # -- manifest ---------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def holds_nothing(self) -> bool:
        """True when the folder is absent or holds no file but temporaries (a run killed before its manifest)."""
        if not self.root.exists():
            return True
        return self.root.is_dir() and all(
            path.is_dir() or (path.name.startswith(".") and path.name.endswith(".tmp")) for path in self.root.rglob("*")
        )

    # A marker written after the output is complete. It tells a finished run
    # kept with --keep-work from an interrupted one, which --overwrite must not discard.
    def is_finished(self) -> bool:
        return (self.root / FINISHED).is_file()

    def mark_finished(self) -> None:
        write_json_atomic(self.root / FINISHED, {"finished": True})

    def clear_finished(self) -> None:
        (self.root / FINISHED).unlink(missing_ok=True)

    def create(self, manifest: Manifest) -> None:
        for folder in (self.root, self.frames, self.log_dir, self.segments):
            folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.manifest_path, manifest.to_json())

    def prepare_existing(self) -> None:
        for folder in (self.frames, self.log_dir, self.segments):
            folder.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.frames, self.log_dir):
            sweep_temporaries(folder)
        # segments/ holds nothing but finished segments; any dot-file in it is
        # the encoder's leftover (partial segment, frame list) from a killed
        # run. Unlinking it also detaches an ffmpeg orphaned by that kill that
        # may still be writing there: it keeps writing into the unlinked file
        # while the new encode creates a fresh one under the same name.
        remove_files(self.segments.glob(".*"))
        # Output-size copies of a segment's frames, made only while it is encoded.
        shutil.rmtree(self.scaled, ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def read_manifest(root: Path) -> Manifest:
        path = root / MANIFEST
        if not path.is_file():
            raise ResumeError(f"{root} is not a vidstyle work directory (no {MANIFEST}); check the path.")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ResumeError(f"{path} is damaged ({error}); rerun the stylize command with --restart to start over.") from error
        if not isinstance(data, dict):
            raise ResumeError(f"{path} is damaged (not a JSON object); rerun the stylize command with --restart to start over.")
        return Manifest.from_json(data, where=path)

    # -- frames -----------------------------------------------------------
    def frame_path(self, position: int) -> Path:
        return self.frames / f"{position:06d}.png"

    def segment_of(self, position: int) -> int:
        return position // self.segment_frames

    def segment_range(self, segment: int, total: int) -> range:
        start = segment * self.segment_frames
        return range(start, min(start + self.segment_frames, total))

    def segment_path(self, segment: int) -> Path:
        return self.segments / f"{segment:05d}.mp4"

    def frame_is_complete(self, position: int, size: tuple[int, int]) -> bool:
        """The PNG exists, decodes, and has the working size (a torn or zero-byte file does not)."""
        return png_is_complete(self.frame_path(position), size)

    def png_count(self) -> int:
        return sum(1 for _ in self.frames.glob("*.png")) if self.frames.is_dir() else 0

    # -- per-frame log ------------------------------------------------------
    def _log_path(self, chunk: int) -> Path:
        return self.log_dir / f"{chunk:05d}.json"

    def _chunk(self, chunk: int) -> dict[str, dict[str, object]]:
        if chunk not in self._log_cache:
            path = self._log_path(chunk)
            records: dict[str, dict[str, object]] = {}
            if path.is_file():
                try:
                    loaded = json.loads(path.read_text())
                    if isinstance(loaded, dict):
                        records = loaded
                except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                    records = {}  # atomic writes make this unlikely; the frames are simply redone
            self._log_cache[chunk] = records
        return self._log_cache[chunk]

    def record(self, position: int, entry: dict[str, object]) -> None:
        chunk = self.segment_of(position)
        records = self._chunk(chunk)
        records[str(position)] = entry
        write_json_atomic(self._log_path(chunk), records)

    def is_recorded(self, position: int) -> bool:
        return str(position) in self._chunk(self.segment_of(position))

    def records(self) -> list[dict[str, object]]:
        """Every per-frame record, in frame order."""
        out: list[tuple[int, dict[str, object]]] = []
        for path in sorted(self.log_dir.glob("*.json")):
            for key, value in self._chunk(int(path.stem)).items():
                out.append((int(key), value))
        return [value for _, value in sorted(out, key=lambda item: item[0])]


def png_is_complete(path: Path, size: tuple[int, int]) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return image is not None and (image.shape[1], image.shape[0]) == tuple(size)
