"""Fingerprints: what decides a run's output, so a resumed run never mixes in stale work.

A run's fingerprint holds hashes of its input, style images and weights, its
output path, frame count and every setting. It is stored in the manifest;
a later run in the same work dir compares its own and lists what differs.
Choices made when the run began are kept in it too and read back by a
resume instead of being made again: --method auto's ("auto") and the tile
size --tile-size auto chose from the memory free then ("tiles", absent for
whole frames; pipeline/run.py), so a resumed run never mixes tiled frames
with whole ones.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import xxhash

from vidstyle.config import TILE_AUTO, MethodKind, OutputSize, OverlayMode, Settings, free_settings, settings_to_json
from vidstyle.files import file_sha256
from vidstyle.model.style import read_style_image
from vidstyle.video.masks import open_mask
from vidstyle.video.overlays import DETECTOR_VERSION
from vidstyle.video.sources import SourceInfo

# Settings that do not change a single output pixel or frame may differ
# between the interrupted run and the resumed one; each field says so where it
# is defined (config.setting: pixels=False, or hashed for a path whose file's
# content is compared instead: weights, model). A path the run *writes* is
# never among them (method.save_model is compared): a manifest edited to
# point it elsewhere is refused, not followed.
FREE_SETTINGS = free_settings()


UPSAMPLE_VERSION = "guided-1"  # video/upsample.py; change it when its output changes


def input_fingerprint(files: list[Path]) -> dict[str, object]:
    """Every byte of every input file, hashed with xxh3_128 (about 9 GB/s from memory here), plus sizes.

    ``files`` are the files the source reads (the video, or the frames of a
    folder or pattern), so a pattern input, which is no file itself, works too,
    and a stray file beside the frames does not count. Any edit, a same-size
    one in the middle of a video included, changes ``xxh3_128``.

    xxh3 is not a cryptographic hash: it tells an edited input from the one a
    run began with, which is all a resume needs (an input crafted to collide
    would only get its own frames reused). Hashing 1 GB costs about 0.1 s warm
    and 0.5 s from disk, against 1-2 s for sha256 (benchmarks/input_hash.py).

    ``sha256`` is the sparse hash older versions stored (size, first and last
    MiB of each file), taken in the same pass: a manifest written before whole
    files were hashed has no ``xxh3_128`` and is checked with it, as it was then.
    """
    full = xxhash.xxh3_128()
    sparse = hashlib.sha256()
    total = 0
    for file in files:
        with file.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            total += size
            name = f"{file.name}:{size}".encode()
            full.update(name)
            sparse.update(name)
            tail_from = size - _MIB if size > 2 * _MIB else size  # older versions hashed the last MiB of files over 2 MiB
            offset = 0
            while chunk := handle.read(_CHUNK):
                full.update(chunk)
                end = offset + len(chunk)
                if offset < _MIB:
                    sparse.update(chunk[: _MIB - offset])
                if end > tail_from:
                    sparse.update(chunk[max(0, tail_from - offset) :])
                offset = end
    return {"files": len(files), "bytes": total, "sha256": sparse.hexdigest(), "xxh3_128": full.hexdigest()}


_MIB = 1 << 20
_CHUNK = 4 << 20  # a multiple of _MIB


def style_hash(path: Path) -> str:
    read_style_image(path)  # fingerprints come before the method: give its clear error for a bad style image
    return file_sha256(path)


def run_fingerprint(info: SourceInfo, settings: Settings, *, output: Path, frame_count: int) -> dict[str, object]:
    """Everything that decides the output's pixels and frames; the caller adds "weights" once the method is built."""
    settings_json = settings_to_json(settings)
    settings_json["style"]["images"] = "(compared by content)"  # paths may move, contents may not
    method = settings_json["method"]
    if settings.method.kind is MethodKind.OPTIMIZE:
        settings_json["method"] = {"kind": method["kind"]}  # the fast method's settings change no pixel of the optimizer's
    elif settings.method.model is not None:
        settings_json["method"] = {"kind": method["kind"], "model": method["model"]}  # nothing is trained
    fingerprint: dict[str, object] = {
        "input": input_fingerprint(list(info.files) if info.files else [Path(info.path)]),
        "styles": [style_hash(Path(p)) for p in settings.style.images],
        "output": str(output),
        "frames": frame_count,
        "settings": settings_json,
    }
    if settings.select.output_size is OutputSize.SOURCE:
        # How frames reach the source size: a run begun when it was bicubic
        # (no entry) must not be finished with guided frames mixed in.
        fingerprint["upsample"] = UPSAMPLE_VERSION
    if settings.select.mask is not None:
        settings_json["select"]["mask"] = "(compared by content)"
        fingerprint["mask"] = input_fingerprint(list(open_mask(settings.select.mask).files))  # every byte, like the input's
    if settings.select.protect_overlays is OverlayMode.AUTO:
        fingerprint["overlays"] = DETECTOR_VERSION  # a run begun with another detector must not mix in its masks
    scene_list = settings.shots.scene_list
    if scene_list is not None and scene_list.is_file():
        fingerprint["scene_list"] = file_sha256(scene_list)  # an edited list changes the shots
    return fingerprint


# Fingerprint entries that hash files a run reads. When one of them differs,
# the stored run cannot be continued at all (a resume would read the same
# changed file), unlike a differing setting, which `vidstyle resume` avoids.
FILE_KEYS = {"input", "styles", "weights", "scene_list", "mask"}


def _size(count: object, total: object) -> str:
    if not isinstance(count, int) or not isinstance(total, int):
        return "?"
    files = f"{count} files, " if count != 1 else ""
    return f"{files}{total / 1e6:.1f} MB" if total >= 100_000 else f"{files}{total} bytes"


def changed_files(
    old: dict[str, object], new: dict[str, object], *, style_images: tuple[Path, ...], input: Path
) -> str:
    """What changed among the files a run reads, as the start of a sentence ("The input clip.mp4 (...)"); "" if none."""
    parts: list[str] = []
    before, after = old.get("input"), new.get("input")
    if before != after:
        if isinstance(before, dict) and isinstance(after, dict):
            was, now = _size(before.get("files"), before.get("bytes")), _size(after.get("files"), after.get("bytes"))
            detail = f"{was} then, {now} now" if was != now else "same size, other content"
        else:
            detail = "other content"
        parts.append(f"the input {input} ({detail})")
    old_styles, new_styles = old.get("styles"), new.get("styles")
    if old_styles != new_styles:
        if isinstance(old_styles, list) and isinstance(new_styles, list) and len(old_styles) == len(new_styles):
            names = [str(p) for p, a, b in zip(style_images, old_styles, new_styles) if a != b]
            parts.append(f"the style image{'s' if len(names) > 1 else ''} {', '.join(names)}")
        else:
            parts.append("the style images")
    if old.get("weights") != new.get("weights"):
        parts.append("the weights file")
    if old.get("scene_list") != new.get("scene_list"):
        parts.append("the scene list")
    if old.get("mask") != new.get("mask"):
        parts.append("the mask")
    if not parts:
        return ""
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text[0].upper() + text[1:]


# Settings a manifest may lack because its run began before they existed, with the value its run had (each
# today's default): a manifest without them differs in nothing. Settings whose old behaviour is not today's
# default are filled in when the manifest is read instead (workdir._BEFORE_THEY_EXISTED).
_ABSENT_MEANS = {
    "settings.method.kind": MethodKind.OPTIMIZE.value,  # older than fast mode: its run used the optimizer
    "settings.select.mask": None,  # older than --mask (or --protect-overlays): its run had none
    "settings.select.mask_feather": 0,
    "settings.select.mask_invert": False,
    "settings.select.protect_overlays": OverlayMode.OFF.value,
    "settings.temporal.inbetween": 1,  # older than --inbetween: its run stylized every frame
    # older than --tile-size: its frames were whole ("tiles" absent, which auto keeps)
    "settings.model.tile_size": TILE_AUTO,
    "settings.model.tile_overlap": 64,
}


def flatten(prefix: str, value: object, into: dict[str, object]) -> dict[str, object]:
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    else:
        into[prefix] = value
    return into


def differences(old: dict[str, object], new: dict[str, object]) -> list[str]:
    """Human-readable 'name: old -> new' lines for every differing fingerprint entry."""
    flat_old, flat_new = flatten("", old, {}), flatten("", new, {})
    lines = []
    for key in sorted(set(flat_old) | set(flat_new)):
        if key.removeprefix("settings.") in FREE_SETTINGS:
            continue
        before, after = flat_old.get(key, "(unset)"), flat_new.get(key, "(unset)")
        if before == "(unset)" and key.startswith("settings.scale."):
            continue  # a manifest older than scale-out: its one-process run had no split shots
        if before == "(unset)" and key in _ABSENT_MEANS and after == _ABSENT_MEANS[key]:
            continue  # a manifest older than the setting, whose run had today's default
        if key == "settings.optimize.coarse_to_fine" and before is False and after == "off":
            continue  # a manifest older than the multi-scale schedule stored a bool; false made the frames "off" makes
        if before == "(unset)" and key == "input.xxh3_128":
            continue  # a manifest older than whole-file hashing: its input is checked as then (input.sha256, input_fingerprint)
        if before != after:
            lines.append(f"{key.removeprefix('settings.')}: {before!r} -> {after!r}")
    return lines
