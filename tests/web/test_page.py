"""The page in a real browser: Playwright driving Debian's Chromium against a real server.

One walk through what a user does, in the order they do it (each step's
state is the next one's start, and a run is the slow part): a request without
the token is refused; a bad input shows the CLI's message and writes nothing;
a preview shows the clip's shots and stylized frames beside their inputs; a run shows its progress
as it goes, stops cleanly, resumes, and its video plays in the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mediatools import REPO_ROOT, make_clip, optional_tool

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
STYLE = REPO_ROOT / "samples" / "style_swirls.jpg"
SLOW = 120_000  # ms: a worker starts torch and builds the style targets on a busy 2-core machine

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the dev group installs it
    optional_tool(False, "playwright (uv sync installs it with the dev group)", module=True)


@pytest.fixture
def browser():
    optional_tool(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _fill_look(page, clip: Path, weights: Path) -> None:
    page.fill("#input", str(clip))
    page.fill("#style-path", str(STYLE))
    page.click("#add-style")
    page.fill("#max-size", "32")
    page.fill("#iterations", "2")
    page.fill("#iterations-next", "1")
    page.fill("#weights", str(weights))


@pytest.mark.slow
def test_find_a_look_run_stop_resume_and_play(server, browser, tmp_path: Path, random_weights: Path):
    clip = make_clip(tmp_path / "clip.mp4", width=48, height=32, frames=6, fps="12")
    page = browser.new_page()

    # Without the token the page is refused, and so is its event stream.
    assert page.goto(server.url + "/").status == 403
    assert page.goto(server.url + "/api/jobs/x/events").status == 403

    assert page.goto(server.page()).status == 200

    # A bad input: the CLI's one-line message, and nothing written.
    _fill_look(page, tmp_path / "missing.mp4", random_weights)
    output = tmp_path / "out.mp4"
    page.fill("#output", str(output))
    page.click("#start-btn")
    expect(page.locator("#message")).to_contain_text("Input not found", timeout=SLOW)
    expect(page.locator("#message")).to_have_class("error")
    assert not output.exists() and not (tmp_path / "out.mp4.vidstyle").exists()

    # Preview: one frame, stylized, beside its input.
    page.fill("#input", str(clip))
    page.fill("#frames", "1")
    page.click("#preview-btn")
    stylized = page.locator("img.preview-out")
    expect(stylized).to_have_count(1, timeout=SLOW)
    expect(page.locator("img.preview-in")).to_have_count(1)
    page.wait_for_function("document.querySelector('img.preview-out').naturalWidth > 0", timeout=10_000)
    assert page.evaluate("document.querySelector('img.preview-out').naturalWidth") == 32  # --max-size 32: the working size's long side
    expect(page.locator("#preview-shots")).to_have_text("1 shot")  # found as the run will find them

    # Start: progress arrives frame by frame, with the latest frame; Stop interrupts it resumably.
    page.click("#start-btn")
    page.wait_for_function("parseInt(document.querySelector('#frames-count').textContent) >= 1", timeout=SLOW)
    expect(page.locator("#thumb")).to_be_visible()
    assert page.locator("#frames-count").text_content().endswith("/ 6")
    assert page.locator("#loss").text_content() != "–"
    page.click("#stop-btn")
    expect(page.locator("#state")).to_contain_text("interrupted at frame", timeout=60_000)
    assert (tmp_path / "out.mp4.vidstyle").is_dir() and not output.exists()
    expect(page.locator("#jobs-table")).to_contain_text("interrupted at frame")

    # Resume: it goes on to the end, and the video plays in the page.
    page.click("#resume-btn")
    expect(page.locator("#state")).to_have_text("done", timeout=SLOW)
    assert output.is_file()
    expect(page.locator("#output-folder")).to_have_text(str(tmp_path))
    page.wait_for_function("document.querySelector('#video').readyState >= 2", timeout=20_000)
    assert page.evaluate("document.querySelector('#video').duration") == pytest.approx(0.5, abs=0.05)
    page.evaluate("document.querySelector('#video').play()")
    page.wait_for_function("document.querySelector('#video').currentTime > 0", timeout=10_000)

