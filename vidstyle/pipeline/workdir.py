"""The work directory of a resumable run: its manifest, per-frame log and files in progress.

Layout (``<output>.vidstyle/`` by default)::

    manifest.json        schema version, input/output, full settings, fingerprints,
                         the run plan (frames, shots, chains, segments), how to reopen the input
    frames/000123.png    stylized frames at working size (at most one segment of them per running chain)
    log/00000.json       per-frame records (steps, losses, seconds), one file per segment
    segments/00000.mp4   encoded segments (video outputs)
    scaled/00000/        output-size copies of a segment's frames while it is encoded (--output-size source)
    finished.json        written once the output is complete (kept only with --keep-work)

Every file is written atomically (vidstyle/files.py). A frame is done when
its file is complete and its record is in the log, or when its segment is
encoded (video/sinks.py decides per output kind). The manifest is written
before the first frame; a later run compares its own fingerprint with the
stored one and refuses to mix settings. Every segment, and so every log file,
belongs to one chain: chains can write side by side.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidstyle import __version__
from vidstyle.config import Settings, json_adapter, settings_from_json, settings_to_json
from vidstyle.errors import ResumeError, VidstyleError
from vidstyle.files import remove_files, sweep_temporaries, write_json_atomic
from vidstyle.pipeline.chains import RunPlan
from vidstyle.video.sources import SourceSpec

SCHEMA_VERSION = 2  # 2: the plan holds shots, chains and segments; the manifest holds the source spec
MANIFEST = "manifest.json"
FINISHED = "finished.json"
_DAMAGED = "rerun the stylize command with --restart to start over."


def default_work_dir(output: Path) -> Path:
    return output.with_name(output.name.rstrip("/") + ".vidstyle")


@dataclass(frozen=True)
class Manifest:
    input: str
    output: str
    settings: Settings
    fingerprint: dict[str, object]  # input, styles, weights hashes + every setting that changes pixels
    plan: RunPlan
    source: SourceSpec  # how to reopen the input without scanning it again
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
            "source": json_adapter(SourceSpec).dump_python(self.source, mode="json"),
        }

    @classmethod
    def from_json(cls, data: dict[str, object], *, where: Path) -> Manifest:
        if "schema" not in data:
            raise ResumeError(f"{where} is damaged (no schema version); {_DAMAGED}")
        if data.get("schema") != SCHEMA_VERSION:
            raise ResumeError(
                f"{where} was written by another vidstyle version (schema {data.get('schema')}, "
                f"this one reads {SCHEMA_VERSION}); {_DAMAGED}"
            )
        try:
            return cls(
                input=str(data["input"]),
                output=str(data["output"]),
                output_kind=str(data["output_kind"]),
                settings=settings_from_json(data["settings"]),  # type: ignore[arg-type]
                fingerprint=dict(data["fingerprint"]),  # type: ignore[call-overload]
                plan=RunPlan.from_json(data["plan"]),
                source=json_adapter(SourceSpec).validate_python(data["source"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as error:
            reason = str(error).splitlines()[0] if str(error) else ""
            raise ResumeError(f"{where} is damaged ({type(error).__name__}: {reason}); {_DAMAGED}") from error
        except VidstyleError as error:  # stored settings that no longer validate
            raise ResumeError(f"{where} holds settings this version rejects ({error}); {_DAMAGED}") from error


class FrameLog:
    """The per-frame records of a run, one JSON file per segment (so each file has one writer)."""

    def __init__(self, folder: Path, chunk_of: Callable[[int], int]) -> None:
        self.folder = folder
        self.chunk_of = chunk_of
        self._cache: dict[int, dict[str, dict[str, object]]] = {}

    def _path(self, chunk: int) -> Path:
        return self.folder / f"{chunk:05d}.json"

    def _chunk(self, chunk: int) -> dict[str, dict[str, object]]:
        if chunk not in self._cache:
            self._cache[chunk] = _read_chunk(self._path(chunk))
        return self._cache[chunk]

    def record(self, position: int, entry: dict[str, object]) -> None:
        chunk = self.chunk_of(position)
        records = self._chunk(chunk)
        records[str(position)] = entry
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._path(chunk), records)

    def is_recorded(self, position: int) -> bool:
        return str(position) in self._chunk(self.chunk_of(position))


def _read_chunk(path: Path) -> dict[str, dict[str, object]]:
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # atomic writes make this unlikely; the frames are simply redone
    return loaded if isinstance(loaded, dict) else {}


class WorkDir:
    """Files of one run: manifest, frames, per-frame log, segments."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.frames = root / "frames"
        self.log_dir = root / "log"
        self.segments = root / "segments"
        self.scaled = root / "scaled"

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
        """Sweep what a killed run left; call before any chain of this run starts."""
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
            raise ResumeError(f"{path} is damaged ({error}); {_DAMAGED}") from error
        if not isinstance(data, dict):
            raise ResumeError(f"{path} is damaged (not a JSON object); {_DAMAGED}")
        return Manifest.from_json(data, where=path)

    # -- frames and records -------------------------------------------------
    def log(self, plan: RunPlan) -> FrameLog:
        return FrameLog(self.log_dir, lambda position: plan.segment_of(position).index)

    def png_count(self) -> int:
        return sum(1 for _ in self.frames.glob("*.png")) if self.frames.is_dir() else 0

    def records(self) -> list[dict[str, object]]:
        """Every per-frame record, in frame order."""
        out: list[tuple[int, dict[str, object]]] = []
        for path in sorted(self.log_dir.glob("*.json")):
            for key, value in _read_chunk(path).items():
                out.append((int(key), value))
        return [value for _, value in sorted(out, key=lambda item: item[0])]
