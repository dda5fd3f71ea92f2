"""The suite's own rules: missing shared data is a skip here and a failure in CI, and every test reaches the data one way.

The rule lives in tests/mediatools.py (shared_data, optional_tool). These tests
run pytest in a subprocess on a tiny test file, with VIDSTYLE_SHARED_DATA
pointed at an empty folder, with and without VIDSTYLE_REQUIRE_SHARED=1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.mediatools import REPO_ROOT

TINY = '''
from tests.mediatools import optional_tool, shared_data


def test_needs_shared_data():
    shared_data("styles", "starry_night.jpg")


def test_needs_a_tool():
    optional_tool(False, "a C compiler (cc)")
'''


def run_tiny(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_tiny.py").write_text(TINY)
    empty = tmp_path / "no-shared-data"
    empty.mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("VIDSTYLE_REQUIRE_", "PYTEST_"))}
    environment.update(VIDSTYLE_SHARED_DATA=str(empty), PYTHONPATH=str(REPO_ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-ra", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_missing_shared_data_skips_and_says_where_it_looked(tmp_path: Path) -> None:
    result = run_tiny(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout
    assert f"shared test data not available: {tmp_path / 'no-shared-data' / 'styles' / 'starry_night.jpg'}" in result.stdout
    assert "optional tool missing: a C compiler (cc)" in result.stdout  # -ra names the missing tool


def test_require_shared_turns_the_skip_into_a_failure(tmp_path: Path) -> None:
    result = run_tiny(tmp_path, VIDSTYLE_REQUIRE_SHARED="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"1 failed, 1 skipped", result.stdout), result.stdout
    assert "FAILED test_tiny.py::test_needs_shared_data" in result.stdout
    assert "VIDSTYLE_REQUIRE_SHARED=1" in result.stdout


def test_require_tools_turns_a_missing_tool_into_a_failure(tmp_path: Path) -> None:
    result = run_tiny(tmp_path, VIDSTYLE_REQUIRE_TOOLS="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"1 failed, 1 skipped", result.stdout), result.stdout
    assert "FAILED test_tiny.py::test_needs_a_tool" in result.stdout


def test_every_test_reaches_shared_data_through_the_one_helper() -> None:
    # A test that builds the path itself (REPO_ROOT.parent / "shared" / "data") and skips or falls back on its
    # own would slip past VIDSTYLE_REQUIRE_SHARED; so would pytest.skip / importorskip / skipif outside the helpers.
    offenders = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        if path.name in ("mediatools.py", Path(__file__).name):
            continue
        text = path.read_text()
        for pattern in (r'"shared"\s*/\s*"data"', r"pytest\.skip\(", r"importorskip\(", r"mark\.skipif\("):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(REPO_ROOT)}: {pattern}")
    assert not offenders, offenders

