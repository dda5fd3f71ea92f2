"""The web page's server: one page (static/), a small JSON API and an event stream per job, for this machine only.

Who may drive it: the server binds 127.0.0.1 by default, and every request,
the page itself, its scripts and the event streams included, must carry the
random token printed in the URL (as Jupyter does), so another local user
cannot. A web site open in the same browser cannot either: it does not know
the token, a request whose Origin is not this page's is refused (a form post
from elsewhere), and so is one whose Host is not a local name (DNS rebinding,
where evil.example resolves to 127.0.0.1).

Paths are paths on this machine: the page names the input, the styles and
the output, and the server never sends a capture anywhere. A dropped file is
copied into the server's scratch folder and used from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse

from vidstyle.errors import VidstyleError
from vidstyle.web.jobs import Job, Jobs
from vidstyle.web.worker import settings_from_form

STATIC = Path(__file__).parent / "static"
LOCAL_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
MAX_UPLOAD = 512 * 1024 * 1024  # a small clip or an image; a long capture is named by its path instead
TERMINAL = {"done", "interrupted", "failed", "damaged"}


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def create_app(*, token: str, state_dir: Path, folder: Path | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The app; ``folder`` is where the page looks for style images and work dirs at first (the user may name another)."""
    jobs = Jobs(state_dir)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()  # running workers stop cleanly: their runs stay resumable from the list

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.jobs = jobs
    uploads = state_dir / "uploads"
    allowed_hosts = LOCAL_NAMES | {host}

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        hostname = _hostname(request.headers.get("host", ""))
        if hostname not in allowed_hosts and not (host in ("0.0.0.0", "::") and hostname):
            return PlainTextResponse("refused: this server answers only to its own address", status_code=403)
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
            return PlainTextResponse("refused: a request from another site", status_code=403)
        given = request.headers.get("x-vidstyle-token") or request.query_params.get("token") or ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            return PlainTextResponse("refused: open the URL that vidstyle serve printed (it holds the token)", status_code=403)
        return await call_next(request)

    @app.exception_handler(VidstyleError)
    async def vidstyle_error(_request: Request, error: VidstyleError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=400)

    def job_or_404(jid: str) -> Job:
        job = jobs.jobs.get(jid)
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        # The scripts and styles carry the token too: every request is checked.
        html = (STATIC / "index.html").read_text()
        return html.replace("{{TOKEN}}", token).replace("{{FOLDER}}", _attribute(str(folder or "")))

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in {"app.js", "style.css"}:
            raise HTTPException(404)
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})

    @app.get("/api/images")
    def images(folder: str) -> dict[str, Any]:
        where = Path(folder).expanduser()
        if not where.is_dir():
            raise VidstyleError(f"{where} is not a folder; name a folder that holds style images.")
        found = sorted(str(p) for p in where.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        return {"images": found}

    @app.get("/api/image")
    def image(path: str) -> FileResponse:
        # Images only: the page shows the styles it offers; it is no general file reader.
        where = Path(path).expanduser()
        if where.suffix.lower() not in IMAGE_EXTENSIONS or not where.is_file():
            raise HTTPException(404, "not an image")
        return FileResponse(where)

    @app.post("/api/upload")
    async def upload(request: Request, name: str) -> dict[str, str]:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".") or "upload"
        body = await request.body()
        if len(body) > MAX_UPLOAD:
            raise VidstyleError(f"{name} is larger than {MAX_UPLOAD // 2**20} MB; type its path instead of dropping it.")
        uploads.mkdir(parents=True, exist_ok=True)
        target = uploads / f"{secrets.token_hex(4)}-{safe}"
        target.write_bytes(body)
        return {"path": str(target)}

    @app.post("/api/preview")
    async def preview(request: Request) -> dict[str, Any]:
        body = await request.json()
        form = body.get("form") or {}
        settings_from_form(form)  # a bad control value is answered at once, in the CLI's words
        job = jobs.start_preview(_path(body.get("input"), "an input"), form)
        return job.snapshot()

    @app.post("/api/run")
    async def run(request: Request) -> dict[str, Any]:
        body = await request.json()
        form = body.get("form") or {}
        settings_from_form(form)
        job = jobs.start_run(_path(body.get("input"), "an input"), _path(body.get("output"), "an output path"), form)
        return job.snapshot()

    @app.get("/api/jobs")
    def list_jobs(folder: str | None = None) -> dict[str, Any]:
        if folder:
            where = Path(folder).expanduser()
            if not where.is_dir():
                raise VidstyleError(f"{where} is not a folder; name the folder your outputs are in.")
            jobs.scan(where)
        return {"jobs": [j.snapshot() for j in jobs.jobs.values() if j.kind == "run"]}

    @app.get("/api/jobs/{jid}")
    def get_job(jid: str) -> dict[str, Any]:
        return job_or_404(jid).snapshot()

    @app.post("/api/jobs/{jid}/stop")
    def stop(jid: str) -> dict[str, Any]:
        job_or_404(jid)
        return jobs.stop(jid).snapshot()

    @app.post("/api/jobs/{jid}/resume")
    def resume(jid: str) -> dict[str, Any]:
        if job_or_404(jid).kind != "run":
            raise HTTPException(400, "only a run resumes")
        return jobs.resume_run(jid).snapshot()

    @app.get("/api/jobs/{jid}/events")
    async def events(jid: str, request: Request) -> StreamingResponse:
        job = job_or_404(jid)

        async def stream() -> Any:
            seen = -1
            quiet = 0.0
            while not await request.is_disconnected():
                if job.version != seen:
                    seen = job.version
                    snapshot = job.snapshot()
                    yield f"data: {json.dumps(snapshot)}\n\n"
                    process = job.live.process
                    if snapshot["state"] in TERMINAL and (process is None or process.poll() is not None):
                        return
                    quiet = 0.0
                await asyncio.sleep(0.1)
                quiet += 0.1
                if quiet >= 15:  # a comment now and then keeps proxies and the browser from giving up on a slow frame
                    yield ": still here\n\n"
                    quiet = 0.0

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{jid}/thumb")
    def thumb(jid: str) -> FileResponse:
        path = job_or_404(jid).folder / "thumb.jpg"
        if not path.is_file():
            raise HTTPException(404, "no frame yet")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{jid}/preview/{name}")
    def preview_image(jid: str, name: str) -> FileResponse:
        if not re.fullmatch(r"(in|out)\d+\.png", name):
            raise HTTPException(404)
        path = job_or_404(jid).folder / name
        if not path.is_file():
            raise HTTPException(404)
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{jid}/video")
    def video(jid: str) -> FileResponse:
        job = job_or_404(jid)
        path = Path(job.output)
        if job.snapshot()["state"] != "done" or not path.is_file():
            raise HTTPException(404, "the output is not finished")
        return FileResponse(path)

    return app


def _path(value: object, what: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise VidstyleError(f"Name {what} first.")
    return text


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
