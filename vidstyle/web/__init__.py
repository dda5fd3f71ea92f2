"""`vidstyle serve`: a local web page to find a look, run it and watch it (needs the web extra: FastAPI, uvicorn)."""
