"""Start the page's server: pick the token, check the port, print the URL, run uvicorn until Ctrl-C."""

from __future__ import annotations

import errno
import secrets
import socket
import tempfile
import webbrowser
from collections.abc import Callable
from pathlib import Path

from vidstyle.errors import UsageError, VidstyleError
from vidstyle.model.style import default_cache_dir


def state_dir() -> Path:
    """Where the server keeps its job list and scratch files: beside the style cache, or in the temp folder when caching is off."""
    base = default_cache_dir()
    return (base if base is not None else Path(tempfile.gettempdir()) / "vidstyle") / "serve"


def serve(
    *,
    port: int,
    host: str = "127.0.0.1",
    open_browser: bool = False,
    folder: Path | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the page until interrupted; running jobs are stopped cleanly (resumable) when the server ends."""
    try:
        import uvicorn

        from vidstyle.web.app import create_app
    except ImportError as error:
        raise VidstyleError(f"vidstyle serve needs the web extra ({error.name} is missing): uv sync --extra web") from None
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port; use 1-65535.")
    _check_port(host, port)
    token = secrets.token_urlsafe(24)
    app = create_app(token=token, state_dir=state_dir(), folder=folder, host=host)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/?token={token}"
    say(f"vidstyle serve: open {url}")
    say("Anyone with this URL can drive vidstyle as you; Ctrl-C stops the server (running jobs stop cleanly, resumable).")
    if open_browser:
        webbrowser.open(url)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """A port in use is said in one line, before anything starts (uvicorn would log a traceback-like error)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise VidstyleError(f"Port {port} is in use; pass --port with another number.") from None
            raise VidstyleError(f"Cannot listen on {host}:{port} ({error.strerror}); check --host.") from None
