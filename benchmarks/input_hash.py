"""What hashing a whole input costs: hash candidates and vidstyle's input fingerprint on a 1 GB file.

    uv run python benchmarks/input_hash.py [--size-mb 1024] [--folder DIR]
    uv run --with xxhash --with blake3 python benchmarks/input_hash.py   # the non-crypto candidates too

Writes a file of random bytes in a temporary folder (``--folder``, default
the system's; it is removed at the end), then for each candidate times one
pass over it twice: "cold-ish" right after asking the kernel to drop the
file's pages (fsync + posix_fadvise DONTNEED: most of the file is then read
from disk, but a VM's host cache may still serve it) and "warm" (the pages in
memory, as right after the cut detection pass or a previous run read the
file). Candidates: hashlib's sha256 and blake2b, xxhash's xxh3_128 and blake3
when importable, and vidstyle's own ``input_fingerprint``. Prints MB/s and
seconds per candidate, and one JSON line at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from vidstyle.pipeline.fingerprint import input_fingerprint  # noqa: E402

_CHUNK = 1 << 20


def _streaming(make: Callable[[], object]) -> Callable[[Path], str]:
    def run(path: Path) -> str:
        digest = make()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)  # type: ignore[attr-defined]
        return digest.hexdigest()  # type: ignore[attr-defined]

    return run


def candidates() -> dict[str, Callable[[Path], object]]:
    found: dict[str, Callable[[Path], object]] = {
        "sha256": _streaming(hashlib.sha256),
        "blake2b": _streaming(hashlib.blake2b),
    }
    try:
        import xxhash

        found["xxh3_128"] = _streaming(xxhash.xxh3_128)
    except ImportError:
        pass
    try:
        import blake3

        found["blake3"] = _streaming(blake3.blake3)
    except ImportError:
        pass
    found["input_fingerprint"] = lambda path: input_fingerprint([path])
    return found


def write_file(path: Path, megabytes: int) -> None:
    block = os.urandom(64 << 20)
    with path.open("wb") as handle:
        left = megabytes << 20
        while left > 0:
            handle.write(block[: min(left, len(block))])
            left -= len(block)
        handle.flush()
        os.fsync(handle.fileno())


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(run: Callable[[Path], object], path: Path) -> float:
    started = time.perf_counter()
    run(path)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        path = Path(folder) / "input.bin"
        write_file(path, args.size_mb)
        megabytes = path.stat().st_size / 1e6
        print(f"{megabytes:.0f} MB file in {folder}")
        for name, run in candidates().items():
            drop_cache(path)
            cold = timed(run, path)
            timed(run, path)  # make sure every page is in memory
            warm = timed(run, path)
            results[name] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3), "cold_mb_s": round(megabytes / cold), "warm_mb_s": round(megabytes / warm)}
            print(f"{name:>18}: cold-ish {cold:6.2f} s ({megabytes / cold:7.0f} MB/s)   warm {warm:6.2f} s ({megabytes / warm:7.0f} MB/s)")
    print(json.dumps({"megabytes": round(megabytes), "results": results}))


if __name__ == "__main__":
    main()
