"""The single files vidstyle wrote under names the user chose: the only existing files --overwrite may replace.

A work dir carries its owner marker (pipeline/workdir.py) and a folder output
its record (video/sinks.py). A single file (a video or image output, a
preview sheet, a --save-model network) cannot carry one in every format, so
vidstyle keeps a ledger beside its cache: one small JSON per file, in
``VIDSTYLE_STATE_DIR`` (default ``$XDG_STATE_HOME/vidstyle/written``, else
``~/.local/state/vidstyle/written``), named by a hash of the file's absolute
path and holding its size and the xxh3-128 hash of its bytes.

A file is vidstyle's while its bytes are the ones vidstyle wrote: one edited
since, or put there by another program under the same name, is not, and
--overwrite refuses it (design rule 16: delete only what you wrote). A lost
ledger errs the same safe way: the file is then refused, never replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import xxhash

from vidstyle.files import write_json_atomic
from vidstyle.errors import VidstyleError

STATE_ENV = "VIDSTYLE_STATE_DIR"


def ledger_dir() -> Path:
    configured = os.environ.get(STATE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vidstyle" / "written"


def _entry(path: Path) -> Path:
    key = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:32]
    return ledger_dir() / f"{key}.json"


def _content(path: Path) -> dict[str, object]:
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return {"path": os.path.abspath(path), "bytes": path.stat().st_size, "xxh3_128": digest.hexdigest()}


def record(path: Path) -> None:
    """Note that vidstyle has just written ``path`` (call once the file is complete under its final name).

    A ledger that cannot be written costs nothing but the right to replace the
    file later without the user's own hand: the run itself goes on.
    """
    try:
        entry = _entry(path)
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(entry, _content(path))
    except (OSError, VidstyleError):
        pass


def is_ours(path: Path) -> bool:
    """True when vidstyle wrote ``path`` and nobody has changed its bytes since."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        stored = json.loads(_entry(path).read_text())
        return isinstance(stored, dict) and stored == _content(path)
    except (OSError, ValueError):
        return False
