"""The work directory of a resumable run: its manifest, per-frame log and files in progress.

Layout (``<output>.vidstyle/`` by default)::

    manifest.json        schema version, input/output, full settings, fingerprints,
                         the run plan (frames, shots, chains, segments), how to reopen the input,
                         the size --max-size auto chose (and why)
    frames/000123.png    stylized frames at working size, on their canvas (--edge-margin), at most one segment
                         of them per running chain
    rings/000123.png     folder outputs with a margin: each frame's canvas ring, its interior black
    log/00000.json       per-frame records (steps, losses, seconds), one file per segment
    segments/00000.mp4   encoded segments (video outputs)
    scaled/000123.png    output-size copy of a frame until its segment is encoded (--output-size source)
    finished.json        written once the output is complete (kept only with --keep-work)
    owner.json           the marker: vidstyle made (or took empty) this folder, for the run it names
    run.lock             flock'ed by the live run (pipeline/worklock.py): one run per work dir

Every file is written atomically (vidstyle/files.py). A frame is done when
its file is complete and its record is in the log, or when its segment is
encoded (video/sinks.py decides per output kind). The manifest is written
before the first frame; a later run compares its own fingerprint with the
stored one and refuses to mix settings. Every segment, and so every log file,
belongs to one chain: chains can write side by side.

A work dir is data, never instructions, and it is vidstyle's only when it
carries the marker: nothing is removed from a folder without it, and then only
the names listed here (design rule 16). Links inside are never followed: a
run that finds one refuses, naming it, before it reads or removes anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vidstyle import __version__
from vidstyle.config import Settings, json_adapter, settings_from_json, settings_to_json
from vidstyle.cutlist import mark_bare_frames
from vidstyle.errors import NotOurs, OutputError, ResumeError, VidstyleError
from vidstyle.files import remove_files, sweep_temporaries, write_json_atomic
from vidstyle.invocation import resume_command, shell_command
from vidstyle.model.autosize import SizeChoice
from vidstyle.pipeline.chains import RunPlan
from vidstyle.pipeline.worklock import LOCK, WorkLock
from vidstyle.video.sources import SourceSpec

SCHEMA_VERSION = 2  # 2: the plan holds shots, chains and segments; the manifest holds the source spec
MANIFEST = "manifest.json"
FINISHED = "finished.json"
MARKER = "owner.json"
SUFFIX = ".vidstyle"
# Every name vidstyle makes at a work dir's top, and so the only ones it removes
# there (fast/ is pipeline/fast.py's; run.lock and the marker go last, in WorkDir.hold).
_OUR_FILES = (MANIFEST, FINISHED)
# The names vidstyle gives files inside its folders: numbered frames, log chunks and segments; fast mode's network
# and checkpoint (pipeline/fast.py, methods/feedforward.py). Only for telling an older vidstyle's work dir apart.
_OUR_FILE_NAME = re.compile(r"^\d+\.(png|json|mp4|mkv|mov|webm|avi)$")
# --protect-overlays auto's per-shot masks and their summary (pipeline/overlays.py, video/overlays.py shot_mask_path).
_OUR_OVERLAY_FILE = re.compile(r"^(shot-\d{3,}\.png|shots\.json)$")
_OUR_FAST_FILES = ("model.pt", "fast-checkpoint.pt")
# warmup: pipeline/chain.py's stored warmup frames; overlays: pipeline/overlays.py; rings: the margins of folder outputs (video/sinks.py)
_OUR_FOLDERS = ("frames", "log", "segments", "scaled", "fast", "warmup", "overlays", "rings")
_DAMAGED = "rerun the stylize command with --restart to start over."


def default_work_dir(output: Path) -> Path:
    return output.with_name(output.name.rstrip("/") + SUFFIX)


def output_beside(root: Path) -> Path | None:
    """The output whose default work dir ``root`` is (``x.mp4`` for ``x.mp4.vidstyle``); None for another name."""
    name = root.name
    return root.with_name(name[: -len(SUFFIX)]) if name.endswith(SUFFIX) and len(name) > len(SUFFIX) else None


def resume_command_for(root: Path, output: Path) -> str:
    """The command that continues the run in ``root``: with ``--output`` where the work dir is not beside the output.

    `vidstyle resume` takes the output from where the work dir is, never from
    its manifest alone (pipeline/run.py resume), so elsewhere it must be told.
    """
    if default_work_dir(output) == root:
        return resume_command(root)
    return shell_command("resume", root, "--output", output)


@dataclass(frozen=True)
class Manifest:
    input: str
    output: str
    settings: Settings
    fingerprint: dict[str, object]  # input, styles, weights hashes + every setting that changes pixels
    plan: RunPlan
    source: SourceSpec  # how to reopen the input without scanning it again
    output_kind: str  # "video" or "folder"
    run_id: str = ""  # the work dir's marker's; a folder output's record carries it too
    # --max-size auto: the size chosen when the run began (pipeline/autosize.py); a resume takes it from here.
    size_choice: SizeChoice | None = None

    def to_json(self) -> dict[str, object]:
        choice = {"size_choice": self.size_choice.to_json()} if self.size_choice is not None else {}
        return {
            "schema": SCHEMA_VERSION,
            "vidstyle_version": __version__,
            "input": self.input,
            "output": self.output,
            "output_kind": self.output_kind,
            "run_id": self.run_id,
            "settings": settings_to_json(self.settings),
            "fingerprint": self.fingerprint,
            "plan": self.plan.to_json(),
            "source": json_adapter(SourceSpec).dump_python(self.source, mode="json"),
            **choice,
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
            _mark_bare_frames_in_cuts(data)
            _settings_before_they_existed(data)
            manifest = cls(
                input=str(data["input"]),
                output=str(data["output"]),
                output_kind=str(data["output_kind"]),
                run_id=str(data.get("run_id", "")),
                settings=settings_from_json(data["settings"]),  # type: ignore[arg-type]
                fingerprint=dict(data["fingerprint"]),  # type: ignore[call-overload]
                plan=RunPlan.from_json(data["plan"]),
                source=json_adapter(SourceSpec).validate_python(data["source"]),
                size_choice=SizeChoice.from_json(data["size_choice"]) if data.get("size_choice") is not None else None,
            )
            if manifest.settings.select.auto_size and manifest.size_choice is None:
                raise ValueError("--max-size auto without the size it chose")  # choosing again could change the size
            return manifest
        except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as error:
            reason = str(error).splitlines()[0] if str(error) else ""
            raise ResumeError(f"{where} is damaged ({type(error).__name__}: {reason}); {_DAMAGED}") from error
        except VidstyleError as error:  # stored settings that no longer validate
            raise ResumeError(f"{where} holds settings this version rejects ({error}); {_DAMAGED}") from error


def _mark_bare_frames_in_cuts(data: dict[str, object]) -> None:
    """An earlier version's --cuts LIST read "48" as frame 48; rewrite it "48f", in the settings and in the fingerprint alike."""
    for holder in (data.get("settings"), (data.get("fingerprint") or {}).get("settings")):  # type: ignore[union-attr]
        shots = holder.get("shots") if isinstance(holder, dict) else None
        if isinstance(shots, dict) and isinstance(shots.get("cuts"), str):
            shots["cuts"] = mark_bare_frames(shots["cuts"])


# Settings a run begun under an earlier vidstyle may lack, and the value its frames were made with (not today's
# default): --edge-margin (no margin before it), --protect-overlays (nothing protected before it was on by default),
# --gamut-weight (no range penalty before it).
_BEFORE_THEY_EXISTED = {("select", "edge_margin"): 0, ("select", "protect_overlays"): "off", ("optimize", "gamut_weight"): 0.0}


def _settings_before_they_existed(data: dict[str, object]) -> None:
    """Fill the settings a run began without with what its frames were made with, in its settings and fingerprint alike,
    so `vidstyle resume` finishes it as it began and a new command with today's defaults is told what differs."""
    for holder in (data.get("settings"), (data.get("fingerprint") or {}).get("settings")):  # type: ignore[union-attr]
        for (section, name), value in _BEFORE_THEY_EXISTED.items():
            group = holder.get(section) if isinstance(holder, dict) else None
            if isinstance(group, dict):
                group.setdefault(name, value)


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


def _is_our_lock(path: Path) -> bool:
    """A run.lock as WorkLock leaves it: empty (just made) or naming its holder; a user's file of that name is not."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        text = path.read_bytes()[:4096]
        return not text or "pid" in json.loads(text)
    except (OSError, ValueError, TypeError):
        return False


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
        self._adopted = False  # an unmarked work dir an older vidstyle made (check_usable)

    # -- manifest ---------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    # -- ownership ----------------------------------------------------------
    @property
    def marker_path(self) -> Path:
        return self.root / MARKER

    def marker(self) -> dict[str, object] | None:
        """The marker's content when the folder is vidstyle's, else None (a link or a foreign file is not a marker)."""
        path = self.marker_path
        if path.is_symlink() or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) and data.get("tool") == "vidstyle" else None

    def is_ours(self) -> bool:
        return self.marker() is not None

    @property
    def run_id(self) -> str:
        marker = self.marker()
        return str(marker.get("run_id", "")) if marker is not None else ""

    def check_usable(self) -> None:
        """Refuse, before anything is touched, a work dir that is not vidstyle's or that holds a link.

        An absent folder, an empty one (empty subfolders allowed) or one with
        the marker is usable; anything else is someone's data.
        """
        root = self.root
        if root.is_symlink():
            raise NotOurs(
                f"The work dir {root} is a symbolic link; vidstyle never follows links in a work dir, "
                "so pass the folder it points to as --work-dir."
            )
        if not root.exists():
            return
        if not root.is_dir():
            raise OutputError(f"{root} is a file, so it cannot be the work dir; pass another --work-dir.")
        if self.is_ours():
            self.check_links()
            return
        if self.manifest_path.is_file():  # a manifest alone is no mark of ownership: anyone can write one
            if self._is_unmarked_vidstyle_run():
                self.check_links()
                self._adopted = True  # hold() marks it as a folder vidstyle made, and it resumes
                return
            raise NotOurs(
                f"{root} holds a manifest but no vidstyle owner marker, and files vidstyle does not make, so "
                "vidstyle neither uses nor empties it; choose a new or empty folder as --work-dir."
            )
        for folder, dirs, files in os.walk(root):
            if folder == str(root) and _is_our_lock(root / LOCK):
                files = [f for f in files if f != LOCK]  # made just now by hold() (or by a run killed before its marker)
            if files or any(os.path.islink(os.path.join(folder, d)) for d in dirs):
                raise NotOurs(
                    f"{root} holds files vidstyle did not make, so it cannot be a work dir; "
                    "choose a new or empty folder as --work-dir."
                )

    def _is_unmarked_vidstyle_run(self) -> bool:
        """A work dir an older vidstyle made (before owner markers): its manifest reads, and every name in it is one vidstyle makes.

        Runs interrupted before the upgrade then resume. The test is strict on
        purpose: a single file of another name anywhere inside (or a link)
        makes the folder someone's, never emptied or used.
        """
        try:
            WorkDir.read_manifest(self.root)
        except VidstyleError:
            return False
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder)
            top = here == self.root
            for name in dirs:
                if (here / name).is_symlink() or (top and name not in _OUR_FOLDERS):
                    return False
            for name in files:
                if (here / name).is_symlink():
                    return False
                if top and (name in _OUR_FILES or name == LOCK):
                    continue
                if not top and (_OUR_FILE_NAME.match(name) or name in _OUR_FAST_FILES or (here.name == "overlays" and _OUR_OVERLAY_FILE.match(name))):
                    continue
                if name.startswith("."):  # a killed run's temporary (files.py, the encoder's leftovers)
                    continue
                return False
        return True

    def check_links(self) -> None:
        """Refuse a work dir with a symbolic link anywhere inside: writes and removals there would land elsewhere."""
        for folder, dirs, files in os.walk(self.root):  # os.walk does not descend into linked folders
            for name in (*dirs, *files):
                path = Path(folder) / name
                if path.is_symlink():
                    raise NotOurs(
                        f"{path} is a symbolic link; vidstyle never follows links inside a work dir ({self.root}). "
                        "To keep the work on another disk, pass --work-dir there instead."
                    )

    @contextlib.contextmanager
    def hold(self) -> Iterator[str]:
        """Use this work dir for one run: refuse it unless usable, lock it, mark it; yield the run id.

        On the way out a run that left nothing to resume (no manifest: refused
        early, or finished and cleaned up) takes its marker and lock file back,
        and the folder too when this run made it; anything else stays as it is.
        """
        self.check_usable()
        made = not self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"Cannot make the work dir {self.root} ({error.strerror or error}); pass another --work-dir.") from error
        lock = WorkLock(self.root)
        try:
            lock.acquire()
        except BaseException:
            if made:  # only if still empty: a run.lock here may be the live run's, which must not be unlinked
                with contextlib.suppress(OSError):
                    self.root.rmdir()
            raise
        try:
            if not self.is_ours():
                self.check_usable()  # again, now that no other run can be making it
                made_folder = made or self._adopted  # an older vidstyle's work dir was made by vidstyle too
                write_json_atomic(self.marker_path, {"tool": "vidstyle", "run_id": uuid.uuid4().hex, "made_folder": made_folder})
            yield self.run_id
        finally:
            self._let_go(lock)

    def _let_go(self, lock: WorkLock) -> None:
        if self.exists() or not self.is_ours():
            lock.release()  # resumable, or kept with --keep-work (the marker stays with it); or not ours to tidy
            return
        marker = self.marker() or {}
        for name in _OUR_FOLDERS:  # empty ones only (a removal already took their files)
            with contextlib.suppress(OSError):
                (self.root / name).rmdir()
        self.marker_path.unlink(missing_ok=True)
        lock.release(remove=True)
        if marker.get("made_folder"):
            with contextlib.suppress(OSError):  # not empty: someone put a file there; it stays
                self.root.rmdir()

    # A marker written after the output is complete. It tells a finished run
    # kept with --keep-work from an interrupted one, which --overwrite must not discard.
    def is_finished(self) -> bool:
        return (self.root / FINISHED).is_file()

    def mark_finished(self) -> None:
        write_json_atomic(self.root / FINISHED, {"finished": True})

    def clear_finished(self) -> None:
        (self.root / FINISHED).unlink(missing_ok=True)

    def create(self, manifest: Manifest) -> None:
        """Write the manifest; call inside :meth:`hold` (the folder is locked and marked)."""
        for folder in (self.frames, self.log_dir, self.segments):
            folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.manifest_path, manifest.to_json())

    def prepare_existing(self) -> None:
        """Sweep what a killed run left; call inside :meth:`hold`, before any chain of this run starts."""
        self.check_links()
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
        # Output-size copies of frames whose segment is not encoded yet: a
        # complete one is kept (its frame is done), a torn one is remade.
        sweep_temporaries(self.scaled)
        sweep_temporaries(self.root / "rings")

    def remove(self) -> None:
        """Remove what vidstyle wrote here (the names above), nothing else; the marker and lock stay until :meth:`hold` ends.

        A folder without the marker is left alone, whatever the caller wants.
        """
        if not self.is_ours():
            return
        self.check_links()
        for name in _OUR_FOLDERS:
            folder = self.root / name
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)  # removes links inside without following them
        remove_files(self.root / name for name in _OUR_FILES)
        sweep_temporaries(self.root)

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


    def records(self) -> list[dict[str, object]]:
        """Every per-frame record, in frame order."""
        out: list[tuple[int, dict[str, object]]] = []
        for path in sorted(self.log_dir.glob("*.json")):
            for key, value in _read_chunk(path).items():
                out.append((int(key), value))
        return [value for _, value in sorted(out, key=lambda item: item[0])]
