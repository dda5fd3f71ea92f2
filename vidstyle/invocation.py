"""How this process was started, so that a command vidstyle prints works when pasted.

A user who ran ``uv run vidstyle stylize ...`` has no ``vidstyle`` on their
PATH; one who ran ``python -m vidstyle`` may have none either. So a printed
next command (resume after Ctrl-C, start over after the input changed) starts
the way this process was started:

    uv run vidstyle ...            started through ``uv run`` (uv sets UV in its children)
    uv run python -m vidstyle ...  ``uv run python -m vidstyle``
    python -m vidstyle ...         ``python -m vidstyle``, when ``python`` on PATH is this interpreter
    /path/to/python -m vidstyle    ``python -m vidstyle`` with another interpreter
    vidstyle ...                   the ``vidstyle`` script found on PATH (or a library caller)
    .venv/bin/vidstyle ...         a script started by its path

Paths are quoted for a POSIX shell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["command_prefix", "resume_command", "shell_command"]


def _started_as_module(argv0: str) -> bool:
    """``python -m vidstyle`` sets argv[0] to the path of vidstyle/__main__.py."""
    path = Path(argv0)
    return path.name == "__main__.py" and path.parent.name == "vidstyle"


def _uv_project_option() -> list[str]:
    """``--project ROOT`` when the current folder is outside the project uv ran (uv looks for it from the cwd)."""
    venv = os.environ.get("VIRTUAL_ENV")
    if not venv:
        return []
    root = Path(venv).parent
    if not (root / "pyproject.toml").is_file():
        return []
    try:
        Path.cwd().resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return ["--project", str(root)]
    return []


def _python() -> str:
    """``python`` when that name on PATH is this interpreter (same bin folder, symlinks not followed), else its path."""
    found = shutil.which("python")
    if found is not None and Path(os.path.abspath(found)).parent == Path(os.path.abspath(sys.executable)).parent:
        return "python"
    return sys.executable


def command_prefix() -> list[str]:
    """The words that start vidstyle the way this process was started."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    module = _started_as_module(argv0)
    if os.environ.get("UV"):
        return ["uv", "run", *_uv_project_option(), *(["python", "-m", "vidstyle"] if module else ["vidstyle"])]
    if module:
        return [_python(), "-m", "vidstyle"]
    if Path(argv0).name == "vidstyle":
        found = shutil.which("vidstyle")
        if found is not None and os.path.abspath(found) == os.path.abspath(argv0):
            return ["vidstyle"]
        return [argv0]
    return ["vidstyle"]


def shell_command(*words: str | os.PathLike[str], prefix: Sequence[str] | None = None) -> str:
    """``vidstyle WORDS...`` as one line a POSIX shell runs as given (each word quoted as needed)."""
    start = list(prefix) if prefix is not None else command_prefix()
    return " ".join(shlex.quote(str(word)) for word in [*start, *words])


def resume_command(work_dir: Path) -> str:
    """The command that continues the run whose work dir is ``work_dir``."""
    return shell_command("resume", work_dir)
