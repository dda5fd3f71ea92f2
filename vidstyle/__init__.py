"""vidstyle: neural style transfer for videos, game captures and frame folders, stable over time and resumable.

Public API::

    from vidstyle import stylize, resume, preview, Settings, StyleConfig
    settings = Settings(style=StyleConfig(images=(Path("style.jpg"),)))
    preview("in.mp4", "sheet.png", settings=settings)      # a few frames, to judge the settings
    result = stylize("in.mp4", "out.mp4", settings=settings)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "EncodeConfig",
    "MethodConfig",
    "MethodKind",
    "ModelConfig",
    "OptimizeConfig",
    "PreviewConfig",
    "PreviewResult",
    "RunConfig",
    "RunResult",
    "SelectConfig",
    "Settings",
    "ScaleConfig",
    "ShotsConfig",
    "StyleConfig",
    "TemporalConfig",
    "VidstyleError",
    "__version__",
    "preview",
    "preview_run",
    "resume",
    "stylize",
]

_LAZY = {
    "stylize": "vidstyle.pipeline.run",
    "resume": "vidstyle.pipeline.run",
    "RunResult": "vidstyle.pipeline.run",
    "preview": "vidstyle.pipeline.preview",
    "preview_run": "vidstyle.pipeline.preview",
    "PreviewResult": "vidstyle.pipeline.preview",
    "VidstyleError": "vidstyle.errors",
    **{
        name: "vidstyle.config"
        for name in (
            "EncodeConfig",
            "MethodConfig",
            "MethodKind",
            "ModelConfig",
            "OptimizeConfig",
            "PreviewConfig",
            "RunConfig",
            "SelectConfig",
            "Settings",
            "ScaleConfig",
            "ShotsConfig",
            "StyleConfig",
            "TemporalConfig",
        )
    },
}

if TYPE_CHECKING:
    from vidstyle.config import (
        EncodeConfig,
        MethodConfig,
        MethodKind,
        ModelConfig,
        OptimizeConfig,
        PreviewConfig,
        RunConfig,
        SelectConfig,
        Settings,
        ScaleConfig,
        ShotsConfig,
        StyleConfig,
        TemporalConfig,
    )
    from vidstyle.errors import VidstyleError
    from vidstyle.pipeline.preview import PreviewResult, preview, preview_run
    from vidstyle.pipeline.run import RunResult, resume, stylize


def __getattr__(name: str) -> Any:
    # Imported on first use: `vidstyle --help` should not wait for torch.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidstyle' has no attribute {name!r}")
