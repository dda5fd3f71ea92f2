"""A real server for the page's tests: uvicorn on a free port of 127.0.0.1, in a thread, with a fresh token and state folder."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.mediatools import optional_tool

try:
    import fastapi  # noqa: F401
    import uvicorn
except ImportError:  # pragma: no cover - the dev group installs the web extra
    optional_tool(False, "the web extra (uv sync --extra web)", module=True)


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    token: str
    state_dir: Path
    app: object

    def page(self) -> str:
        return f"{self.url}/?token={self.token}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    from vidstyle.web.app import create_app

    token = secrets.token_urlsafe(16)
    state = tmp_path / "serve-state"
    app = create_app(token=token, state_dir=state, folder=tmp_path)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", token, state, app)
    finally:
        uv.should_exit = True
        thread.join(20)
