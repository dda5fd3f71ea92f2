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


class NotOurs(OutputError):
    """A path vidstyle would write or remove holds something it did not make (a user's folder, the input, a style).

    Its message never offers a flag that would remove it: vidstyle deletes only what it wrote.
    """


class WorkDirBusy(ResumeError):
    """Another live vidstyle run holds the work dir's lock; this run leaves it alone."""


class ModelError(VidstyleError):
    """A saved fast-mode network cannot be used (missing, damaged, foreign or carrying pickled code)."""


class InputChanged(ResumeError):
    """A file the interrupted run read (input, style image, weights, scene list) changed since it began.

    Unlike changed settings, resuming cannot help: the stored run would read
    the changed file too. The only way on is to start over. ``reason`` says
    what changed; the message ends with how to start over, which the CLI
    replaces with the exact command.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{reason} Start over by rerunning with --restart (restart=True), which discards them.")

    def with_command(self, command: str) -> str:
        return f"{self.reason} Start over with: {command}"


class NumericalError(VidstyleError):
    """A frame's optimization went NaN or infinite, and again when redone with a safer optimizer."""


class OutOfSpace(OutputError):
    """The disk (or the file size limit) is full: nothing was written half; free space and resume."""


class WorkerError(VidstyleError):
    """The Ray cluster cannot be reached or was lost, or its workers keep dying (the work dir stays resumable)."""


class Interrupted(VidstyleError):
    """The run was stopped by Ctrl-C or SIGTERM after saving its state."""

    exit_code = 130
