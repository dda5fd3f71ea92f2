"""Make docs/img/serve.png: the web page (`vidstyle serve`) after a preview and a finished run, with real weights.

    uv run python docs/make_serve_picture.py

It starts the page's server on a free port, drives Debian's Chromium (/usr/bin/chromium) with Playwright
as a user would, on the first 6 frames of samples/clip.mp4 in the style of The Starry Night, with the
shared VGG16 ImageNet weights (../shared/data/weights, see ../shared/data/README.md), a 128 px working size
and small step budgets (40 for the first frame, 10 for the others) so that it takes a few minutes on a CPU.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import imageio_ffmpeg
import uvicorn
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "docs" / "img" / "serve.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SLOW = 600_000


def main() -> int:
    from vidstyle.web.app import create_app

    weights, styles = SHARED / "weights" / "vgg16_imagenet_features.pth", SHARED / "styles"
    if not weights.is_file():
        print(f"needs {weights} (see ../shared/data/README.md)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="serve-picture-"))
    clip = work / "clip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(REPO / "samples" / "clip.mp4"), "-frames:v", "6", "-an", str(clip)],
        check=True,
    )
    token = secrets.token_urlsafe(16)
    app = create_app(token=token, state_dir=work / "state", folder=work)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/?token={token}")
            page.fill("#input", str(clip))
            page.fill("#style-folder", str(styles))
            page.click("#load-styles")
            page.click(f"#style-list img[data-path='{styles / 'starry_night.jpg'}']")
            page.select_option("#network", "vgg16")
            page.fill("#weights", str(weights))
            page.fill("#max-size", "128")
            page.fill("#iterations", "40")
            page.fill("#iterations-next", "10")
            page.fill("#frames", "2")
            page.click("#preview-btn")
            expect(page.locator("img.preview-out")).to_have_count(2, timeout=SLOW)
            page.fill("#output", str(work / "clip_starry.mp4"))
            page.click("#start-btn")
            expect(page.locator("#state")).to_have_text("done", timeout=SLOW)
            # A frame of the video on screen, not the player's loading spinner.
            page.wait_for_function("document.querySelector('#video').duration > 0", timeout=30_000)
            page.evaluate("document.querySelector('#video').currentTime = 0.25")
            page.wait_for_function("document.querySelector('#video').readyState >= 3 && !document.querySelector('#video').seeking", timeout=30_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(OUT), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(30)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
