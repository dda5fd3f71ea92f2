"""Typed errors whose messages tell the user what to do.

The core raises these; the CLI prints ``str(error)`` as one line on stderr and
exits with ``error.exit_code``. Anything else that escapes is a bug and is
reported as such (with a traceback only when VIDSTYLE_DEBUG=1).
"""

from __future__ import annotations


class VidstyleError(Exception):
    """Base class for every error a user can cause or fix."""

    exit_code: int = 1


class UsageError(VidstyleError):
    """Options that contradict each other or cannot be satisfied (exit code 2)."""

    exit_code = 2


class WeightsError(VidstyleError):
    """Network weights missing, unreadable, of the wrong shape or of the other network."""


class InputError(VidstyleError):
    """The content input (video, folder, pattern or image) cannot be used."""


class StyleError(VidstyleError):
    """A style image cannot be read."""


class EncodeError(VidstyleError):
    """ffmpeg failed to write the output."""


class OutputError(VidstyleError):
    """The output path cannot be written, or already exists."""


class ResumeError(VidstyleError):
    """The work directory cannot be resumed (corrupt, or made with other settings)."""


class ModelError(VidstyleError):
    """A saved fast-mode network cannot be used (missing, damaged, foreign or carrying pickled code)."""


class Interrupted(VidstyleError):
    """The run was stopped by Ctrl-C or SIGTERM after saving its state."""

    exit_code = 130
