"""The page's server through FastAPI's TestClient: who may drive it, the CLI's errors, jobs that outlive the server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.mediatools import REPO_ROOT, hard_cut_folder, make_clip

from fastapi.testclient import TestClient  # noqa: E402 - after tests.web.conftest has skipped without the web extra

from vidstyle.errors import VidstyleError
from vidstyle.web.app import create_app
from vidstyle.web.worker import settings_from_form

STYLE = REPO_ROOT / "samples" / "style_swirls.jpg"
HOST = "http://127.0.0.1:8765"


def _client(state: Path, token: str = "secret", **headers: str) -> TestClient:
    return TestClient(create_app(token=token, state_dir=state), base_url=HOST, headers=headers)


def _form(weights: Path, style: Path = STYLE) -> dict[str, Any]:
    return {"styles": [str(style)], "max_size": 32, "iterations": 2, "iterations_next": 1, "weights": str(weights)}


def _wait(client: TestClient, jid: str, until: Any, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/api/jobs/{jid}").json()
        if until(state):
            return state
        assert time.monotonic() < deadline, f"job {jid} stuck at {state}"
        time.sleep(0.2)


def _ended(state: dict[str, Any]) -> bool:
    return state["state"] in ("done", "interrupted", "failed")


def test_only_requests_with_the_token_from_this_page_are_served(tmp_path: Path):
    client = _client(tmp_path)
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    assert client.get("/api/jobs", headers={"X-Vidstyle-Token": "wrong"}).status_code == 403
    assert client.get("/api/jobs/x/events").status_code == 403
    page = client.get("/?token=secret")
    assert page.status_code == 200 and "static/app.js?token=secret" in page.text
    assert client.get("/api/jobs", headers={"X-Vidstyle-Token": "secret"}).json() == {"jobs": []}
    # A web site open in the same browser: its Origin is refused, token or not; so is a rebound host name.
    assert client.post("/api/run?token=secret", json={}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.get("/api/jobs?token=secret", headers={"Host": "evil.example:8765"}).status_code == 403
    assert client.post("/api/preview?token=secret", json={}, headers={"Origin": HOST}).status_code == 400  # its own origin is fine


def test_a_bad_setting_is_refused_at_once_in_the_clis_words(tmp_path: Path, random_weights: Path):
    client = _client(tmp_path, **{"X-Vidstyle-Token": "secret"})
    form = {**_form(random_weights), "style_scale": 20}
    answer = client.post("/api/run", json={"input": "in.mp4", "output": str(tmp_path / "o.mp4"), "form": form})
    assert answer.status_code == 400
    with pytest.raises(VidstyleError) as cli:
        settings_from_form(form)
    assert answer.json()["error"] == str(cli.value) and "scale" in str(cli.value)
    answer = client.post("/api/preview", json={"input": "in.mp4", "form": {**form, "styles": []}})
    assert answer.status_code == 400 and "style" in answer.json()["error"]
    assert not list(tmp_path.glob("o.mp4*"))


def test_a_refused_output_and_a_damaged_style_say_what_the_cli_says_and_write_nothing(tmp_path: Path, random_weights: Path):
    from vidstyle.pipeline.run import stylize

    clip = make_clip(tmp_path / "clip.mp4", frames=3, audio=False)
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"the user's own file")
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"not a picture")
    client = _client(tmp_path / "state", **{"X-Vidstyle-Token": "secret"})
    cases = [(mine, _form(random_weights)), (tmp_path / "out.mp4", _form(random_weights, damaged))]
    jobs = [client.post("/api/run", json={"input": str(clip), "output": str(o), "form": f}).json()["id"] for o, f in cases]
    for jid, (output, form) in zip(jobs, cases):
        state = _wait(client, jid, _ended)
        with pytest.raises(VidstyleError) as cli:
            stylize(clip, output, settings=settings_from_form(form))
        assert state["state"] == "failed" and state["message"] == str(cli.value)
    assert mine.read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "damaged.jpg", "mine.mp4", "state"]
    assert client.get("/api/jobs").json() == {"jobs": []}  # refused runs leave nothing to resume


@pytest.mark.slow
def test_jobs_outlive_the_server_and_resume_from_the_list(tmp_path: Path, random_weights: Path):
    clip = make_clip(tmp_path / "clip.mp4", width=48, height=32, frames=5, fps="12", audio=False)
    output = tmp_path / "outputs" / "out.mp4"
    output.parent.mkdir()
    client = _client(tmp_path / "state", **{"X-Vidstyle-Token": "secret"})
    jid = client.post("/api/run", json={"input": str(clip), "output": str(output), "form": _form(random_weights)}).json()["id"]
    _wait(client, jid, lambda s: s["done"] >= 1)
    client.post(f"/api/jobs/{jid}/stop")
    stopped = _wait(client, jid, _ended)
    assert stopped["state"] == "interrupted" and 1 <= stopped["done"] < 5

    # A new server with the same state: the job is listed from its work dir, where it stopped.
    again = _client(tmp_path / "state", **{"X-Vidstyle-Token": "secret"})
    (listed,) = again.get("/api/jobs").json()["jobs"]
    assert (listed["id"], listed["state"], listed["done"], listed["total"]) == (jid, "interrupted", stopped["done"], 5)

    # A server that never saw it finds it in the folder the user names, and resumes it from there.
    other = _client(tmp_path / "other-state", **{"X-Vidstyle-Token": "secret"})
    (found,) = other.get("/api/jobs", params={"folder": str(tmp_path / "outputs")}).json()["jobs"]
    assert (found["state"], found["output"], found["done"]) == ("interrupted", str(output), stopped["done"])
    other.post(f"/api/jobs/{found['id']}/resume")
    done = _wait(other, found["id"], _ended)
    assert done["state"] == "done" and done["done"] == 5 and output.is_file()
    video = other.get(f"/api/jobs/{found['id']}/video")
    assert video.status_code == 200 and video.content == output.read_bytes()


def test_a_preview_shows_the_shots_of_the_clip_and_a_frame_of_each(tmp_path: Path, random_weights: Path):
    clip = hard_cut_folder(tmp_path / "clip")  # one hard cut at frame 16 of 32, 24 fps
    client = _client(tmp_path / "state", **{"X-Vidstyle-Token": "secret"})
    jid = client.post("/api/preview", json={"input": str(clip), "form": {**_form(random_weights), "frames": 2}}).json()["id"]
    state = _wait(client, jid, _ended)
    assert state["state"] == "done", state["message"]
    assert state["shots"] == "2 shots; cuts at 0:00.7"  # the run's words for the same clip
    assert [(f["source_index"], f["shot"]) for f in state["preview"]] == [(8, 0), (24, 1)]
    assert state["cuts"] == [32, 32]  # the detection pass looked at every frame
    assert client.get(f"/api/jobs/{jid}/preview/{state['preview'][1]['input']}").status_code == 200


def test_serve_prints_a_url_whose_token_opens_the_page_and_refuses_a_busy_port(tmp_path: Path):
    import os
    import re
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from tests.web.conftest import free_port

    port = free_port()
    env = {**os.environ, "VIDSTYLE_CACHE_DIR": str(tmp_path / "cache")}
    server = subprocess.Popen(
        [sys.executable, "-m", "vidstyle", "serve", "--port", str(port), "--folder", str(tmp_path)],
        stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        url = re.search(rf"http://127\.0\.0\.1:{port}/\?token=\S+", line)
        assert url, line
        deadline = time.monotonic() + 30
        while True:
            try:
                page = urllib.request.urlopen(url.group(0), timeout=5).read().decode()
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
        assert 'id="start-btn"' in page and f'data-folder="{tmp_path}"' in page
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert refused.value.code == 403

        # A second server on the same port: one line that says what to do, exit code 1.
        second = subprocess.run(
            [sys.executable, "-m", "vidstyle", "serve", "--port", str(port)], capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert second.returncode == 1
        assert second.stderr.strip() == f"error: Port {port} is in use; pass --port with another number."
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
