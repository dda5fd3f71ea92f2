"""What a run may write and remove: never the input, a style or a user's folder; only what vidstyle wrote.

Design rule 16 in one place. Four checks, in the order a run makes them:

    check_output_parent(...) the output's folder exists and is writable, and nothing that is not
                           a folder stands where the work dir goes
    check_layout(...)      before anything is touched: the output is not the input, not
                           inside the input folder, not the work dir; the work dir is not the
                           input, not inside it, not inside the output
    check_target(...)      a file a run writes besides its output (--save-model, a preview
                           sheet): not a file the run reads, not in the work dir, and not an
                           existing file unless --overwrite
    settle_existing(...)   with the work dir locked: what --restart and --overwrite may
                           discard (only what a work dir's marker or a folder output's
                           record says vidstyle wrote), and when an existing output is refused

Conflicting paths are bad usage (exit 2); a folder that holds someone else's
files is refused with exit 1 and a message that offers no flag: no flag
makes vidstyle remove what it did not write.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidstyle import written as written_files
from vidstyle.config import RunConfig, Settings
from vidstyle.errors import NotOurs, OutputError, UsageError
from vidstyle.pipeline.workdir import WorkDir
from vidstyle.video.sinks import Output, OutputKind
from vidstyle.video.sources import SourceInfo, SourceKind

__all__ = ["Guarded", "check_layout", "check_target", "guarded_for", "guarded_paths", "settle_existing"]


@dataclass(frozen=True)
class Guarded:
    """The files a run reads, which nothing it writes may be or replace (all absolute)."""

    input: Path  # the video, image, folder, or a pattern's folder
    input_files: tuple[Path, ...]  # the frame files of a folder, pattern or image input
    input_folder: Path | None  # the folder the input's frames are in (folder and pattern inputs)
    reads: tuple[tuple[str, Path], ...]  # ("the style image", path), ... for every other file read


def _absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def guarded_paths(info: SourceInfo, settings: Settings) -> Guarded:
    """What an opened input and the settings make a run read."""
    files = tuple(_absolute(p) for p in info.files or ())
    folder: Path | None = None
    if info.kind is SourceKind.FOLDER:
        folder = _absolute(info.path)
    elif info.kind is SourceKind.PATTERN and files:
        folder = files[0].parent
    source = folder if folder is not None else _absolute(info.path)
    return Guarded(input=source, input_files=files, input_folder=folder, reads=_reads(settings))


def guarded_for(input: str | Path, settings: Settings) -> Guarded:
    """The same, from the input as given, before it is opened (a run's --preview is checked before the run)."""
    path = _absolute(input)
    if path.is_dir():
        return Guarded(input=path, input_files=(), input_folder=path, reads=_reads(settings))
    if not path.exists() and any(mark in str(input) for mark in "%*?["):  # a pattern: its frames' folder
        return Guarded(input=path.parent, input_files=(), input_folder=path.parent, reads=_reads(settings))
    return Guarded(input=path, input_files=(path,), input_folder=None, reads=_reads(settings))


def _reads(settings: Settings) -> tuple[tuple[str, Path], ...]:
    reads: list[tuple[str, Path]] = [("a style image", _absolute(p)) for p in settings.style.images]
    if settings.model.weights is not None:
        reads.append(("the weights file", _absolute(settings.model.weights)))
    if settings.optimize.init not in ("content", "noise"):
        reads.append(("the --init image", _absolute(settings.optimize.init)))
    if settings.method.model is not None:
        reads.append(("the --model network", _absolute(settings.method.model)))
    if settings.shots.scene_list is not None:
        reads.append(("the scene list", _absolute(settings.shots.scene_list)))
    if settings.select.mask is not None:
        reads.append(("the --mask", _absolute(settings.select.mask)))
    return tuple(reads)


def _same(a: Path, b: Path) -> bool:
    """The same path, or two names of one existing file (a hard link, a link to it)."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies inside it (through the real paths, so a linked folder counts too)."""
    for candidate, base in ((path, folder), (Path(os.path.realpath(path)), Path(os.path.realpath(folder)))):
        if candidate == base or base in candidate.parents:
            return True
    return False


def _is_input(path: Path, guarded: Guarded) -> bool:
    return _same(path, guarded.input) or any(_same(path, f) for f in guarded.input_files)


def _refuse_what_the_run_reads(path: Path, guarded: Guarded, *, option: str, name: str, somewhere: str) -> None:
    """UsageError when ``path`` (given as ``option``) is the input, inside the input folder, or a file the run reads.

    ``name`` and ``somewhere`` word the advice: "choose another {name}", "choose {somewhere} outside it".
    """
    if _is_input(path, guarded):
        raise UsageError(f"{option} {path} is the input; choose another {name}.")
    if guarded.input_folder is not None and _within(path, guarded.input_folder):
        raise UsageError(f"{option} {path} is inside the input folder {guarded.input_folder}; choose {somewhere} outside it.")
    for what, read in guarded.reads:
        if _same(path, read):
            raise UsageError(f"{option} {path} is {what}; choose another {name}.")


def check_layout(output: Output, work: Path | None, guarded: Guarded) -> None:
    """Refuse an output or work dir that would write over, or remove, the input or each other (UsageError, exit 2)."""
    out = output.path
    _refuse_what_the_run_reads(out, guarded, option="--output", name="--output", somewhere="an --output")
    if work is None:
        return
    if _same(work, out):
        raise UsageError(f"The work dir {work} is the output; pass another --work-dir (or leave it out: the default is beside the output).")
    if _within(out, work):
        raise UsageError(f"--output {out} is inside the work dir {work}; choose an --output outside it.")
    if output.kind is OutputKind.FOLDER and _within(work, out):
        raise UsageError(f"The work dir {work} is inside the output folder {out}; pass a --work-dir outside it.")
    if _is_input(work, guarded):
        raise UsageError(f"The work dir {work} is the input; pass another --work-dir.")
    if guarded.input_folder is not None and _within(work, guarded.input_folder):
        raise UsageError(f"The work dir {work} is inside the input folder {guarded.input_folder}; pass a --work-dir outside it.")
    if _within(guarded.input, work) or any(_within(f, work) for f in guarded.input_files):
        raise UsageError(f"The input {guarded.input} is inside the work dir {work}; pass another --work-dir.")
    for what, path in guarded.reads:
        if _within(path, work):
            raise UsageError(f"{what[0].upper() + what[1:]} {path} is inside the work dir {work}; pass another --work-dir.")


def check_target(
    path: Path,
    *,
    option: str,
    guarded: Guarded | None,
    overwrite: bool,
    output: Output | None = None,
    work: Path | None = None,
    replaceable: Callable[[Path], bool] = lambda _: False,
) -> None:
    """Refuse a file a run writes besides its output (``option`` names it) that would clobber what it must not.

    ``replaceable(path)``: an existing file this very run wrote before (a
    resumed run's --save-model copy), which it may write again without --overwrite.
    """
    path = _absolute(path)
    if guarded is not None:
        _refuse_what_the_run_reads(path, guarded, option=option, name="path", somewhere="a path")
    if output is not None and (_same(path, output.path) or (output.kind is OutputKind.FOLDER and _within(path, output.path))):
        raise UsageError(f"{option} {path} is the run's output or inside it; choose another path.")
    if work is not None and _within(path, work):
        raise UsageError(f"{option} {path} is inside the work dir {work}; choose another path.")
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; name a file.")
    if (path.exists() or path.is_symlink()) and not replaceable(path):
        _check_replaceable(path, option=option, overwrite=overwrite)


def _check_replaceable(path: Path, *, option: str, overwrite: bool) -> None:
    """An existing file the user named is replaced only with --overwrite, and only when vidstyle wrote it.

    vidstyle/written.py keeps the ledger: a file another program wrote (or
    that was edited since vidstyle wrote it) is refused whatever the flags,
    with a message that offers none.
    """
    if not written_files.is_ours(path):
        raise NotOurs(f"{path} already exists and vidstyle did not write it, so it will not replace it; choose another {option}.")
    if not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace that file, or choose another {option}.")


def settle_existing(output: Output, work: WorkDir | None, run: RunConfig, *, notice: Callable[[str], None]) -> None:
    """Refuse to clobber a finished output; --overwrite and --restart discard only vidstyle's old work.

    ``work`` is the run's work dir, held (locked and marked) by this run;
    None for an image output. --restart discards an interrupted run
    (its work dir's contents, and of a folder output the frames its record
    lists). --overwrite replaces a finished output only: rerunning the very
    command that was interrupted, --overwrite included, resumes instead of
    throwing the progress away. A file output is the file the user named, so
    --overwrite replaces it; a folder output that is not vidstyle's (no
    record) is refused whatever the flags.
    """
    if work is None:
        if output.exists():
            _check_replaceable(output.path, option="--output", overwrite=run.overwrite)
        return
    if output.kind is OutputKind.FOLDER and output.exists() and not output.is_ours():
        raise NotOurs(f"{output.path} holds files vidstyle did not write; choose a new or empty folder as --output.")
    if run.restart and work.exists():
        work.remove()
        if output.kind is OutputKind.FOLDER:
            # The interrupted run's frames, as the folder's record lists them; what else is there
            # (a file the user put in vidstyle's folder) stays, and the run starts over beside it.
            output.remove()
            return
    interrupted = work.exists() and not work.is_finished()
    if not output.exists():
        return
    if output.kind is OutputKind.FOLDER and work.exists():
        # The output folder is the result: an interrupted run resumes into
        # it; a finished one kept with --keep-work has torn or deleted
        # frames redone, unless --overwrite asks to redo everything.
        if interrupted or not run.overwrite:
            if interrupted and run.overwrite:
                notice("Resuming the interrupted run into the output folder; pass --restart to start over.")
            return
    if output.kind is not OutputKind.FOLDER and not written_files.is_ours(output.path):
        raise NotOurs(
            f"{output.path} already exists and vidstyle did not write it, so it will not replace it; choose another --output."
        )
    if run.overwrite:
        work.remove()
        output.remove()
        return
    if output.kind is OutputKind.FOLDER:
        raise OutputError(
            f"{output.path} already holds a finished run's frames; pass --overwrite to redo them "
            "(only the frames vidstyle wrote there are replaced), or choose another --output."
        )
    raise OutputError(f"{output.path} already exists; pass --overwrite to redo it, or choose another --output.")


def check_output_parent(output: Output, work: Path | None) -> None:
    """The output's folder exists and may be written; the work dir (when there is one) can be made where it goes."""
    parent = output.path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{parent} is a file, not a folder; choose an --output inside a folder.")
    if not parent.is_dir():
        raise OutputError(f"The folder {parent} does not exist; create it first or choose another --output.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write in {parent} (permission denied); choose another --output.")
    if work is not None:
        blocker = _file_in_the_way(work)
        if blocker is not None:
            raise OutputError(f"{blocker} is a file, so the work dir {work} cannot be made there; pass another --work-dir.")


def _file_in_the_way(folder: Path) -> Path | None:
    """The first existing path at or above ``folder`` that is not a folder (making ``folder`` would fail there)."""
    for path in (folder, *folder.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None
