"""The environment keeps OpenCV's headless build.

PySceneDetect's `scenedetect` package depends on `opencv-python`, the GUI build,
which shares the `cv2` module with our `opencv-python-headless` and would
replace it. We depend on `scenedetect-headless` (same module, headless OpenCV)
instead; these tests fail if the project or the environment drifts back.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

import cv2
import pytest

from tests.mediatools import REPO_ROOT, optional_tool

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        optional_tool(False, "tomli (Python 3.10 has no tomllib)", module=True)

GUI_BUILDS = ("opencv-python", "opencv-contrib-python", "scenedetect")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower()


def test_cv2_is_the_headless_build():
    assert re.search(r"GUI:\s+NONE", cv2.getBuildInformation())
    metadata.distribution("opencv-python-headless")
    for name in GUI_BUILDS:
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.distribution(name)


def test_no_dependency_pulls_in_the_gui_build():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    assert "scenedetect-headless" in names and "opencv-python-headless" in names
    assert not names & set(GUI_BUILDS)
    scenedetect = {_name(r) for r in metadata.requires("scenedetect-headless") or [] if "extra ==" not in r}
    assert "opencv-python-headless" in scenedetect and not scenedetect & set(GUI_BUILDS)
