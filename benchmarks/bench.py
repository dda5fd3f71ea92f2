"""vidstyle's performance benchmark: one step against the machine's floor, cold and warm frames,
coarse to fine, where a frame's time goes, memory over long clips, and batched chains.

Writes a markdown table and ``benchmarks/results/<machine>.json`` (sections run again replace
their own entries in that file and keep the others). Timings on a shared machine are noisy: every
time is the fastest of a few repeats (the least disturbed), ratios are measured in the same run,
and the load average before and after each section is stored with it.

    uv run python benchmarks/bench.py                            # CPU, every section (the frames section alone: 100 full-size steps three times)
    uv run python benchmarks/bench.py --sections step,split      # some sections
    uv run python benchmarks/bench.py --table                    # print the table of the stored JSON
    uv run python benchmarks/bench.py --device cuda              # GPU: adds 960x540 and 1920x1080 fps, bf16, batches of chains
    uv run python benchmarks/bench.py --dry-run                  # every section at toy sizes, to check the script (no JSON)

Sections:
  env      the machine, torch, threads
  matmul   the measured matmul rate in the dtype the step uses (fp32 on the CPU; fp32, tf32 and bf16 on a GPU)
  flops    FLOPs of one step (forward to relu5_1 + input-gradient backward) for VGG19 and VGG16 at the
           working size: from the layer shapes and from torch.utils.flop_counter, and their ratio
  step     seconds per step, efficiency = FLOP floor / measured; NCHW vs channels_last, one frame vs a
           batch of two (--batch-chains 2), bf16 and torch.compile (CPU: informational)
  profile  where one VGG19 step's time goes: each convolution's forward and input-gradient backward
           with its efficiency against the matmul rate, and the other operators' self time (torch.profiler)
  frames   real features (the shared ImageNet VGG16): a first frame single-scale and coarse-to-fine
           (time to reach the single-scale final loss), a later frame started warm (steps and seconds to
           the first frame's final loss, and what the default 20 steps give); side-by-sides saved
  split    a real run: per-frame decode, cut detection, flow, optimize, encode, write, other
  memory   peak RSS at 50 and 500 frames (fresh processes)
  batch    a whole run with --batch-chains 2 against 1
  gpu      (cuda only) frames per second at 960x540 and 1920x1080 in flow mode, throughput of batches of chains
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import REPO, SHARED, random_weights, vgg_step_flops  # noqa: E402
from vidstyle.config import (  # noqa: E402
    CoarseToFine,
    DeviceChoice,
    ModelConfig,
    Network,
    OptimizeConfig,
    Precision,
    RunConfig,
    SelectConfig,
    Settings,
    ShotsConfig,
    StyleConfig,
    TemporalConfig,
)
from vidstyle.model.build import build_core, deepest_layer  # noqa: E402
from vidstyle.model.device import resolve_device  # noqa: E402
from vidstyle.model.stylizer import FrameProblem, Stylizer  # noqa: E402
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr, working_size  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
VGG16_WEIGHTS = SHARED / "weights" / "vgg16_imagenet_features.pth"
SECTIONS = ("env", "matmul", "flops", "step", "profile", "frames", "split", "memory", "batch", "gpu")


# ----------------------------------------------------------------------------- helpers


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name(device: torch.device) -> str:
    """A stable short name: the GPU, or the CPU model and its core count."""
    if device.type == "cuda":
        label = torch.cuda.get_device_name(0)
    else:
        label = f"{cpu_model()} {os.cpu_count()}c"
    label = re.sub(r"\((r|tm)\)|cpu|processor|@.*?ghz", " ", label.lower())
    return re.sub(r"[^a-z0-9]+", "-", label).strip("-")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def fastest(measure: Callable[[], float], repeats: int) -> float:
    return min(measure() for _ in range(repeats))


def matmul_gflops(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 8) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)

    def once() -> float:
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        sync(device)
        return time.perf_counter() - started

    return 2 * n**3 * repeats / fastest(once, 3) / 1e9


def style_image() -> Path:
    shared = SHARED / "styles" / "starry_night.jpg"
    return shared if shared.is_file() else REPO / "samples" / "style_swirls.jpg"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = resolve_device(DeviceChoice(args.device))
        self.dry = args.dry_run
        self.size = (64, 36) if self.dry else working_size(16 * 16, 9 * 16, args.size)  # 256x144 by default
        self.weights = {net: random_weights(Path(tempfile.gettempdir()), network=net.value) for net in Network}
        self.results: dict[str, object] = {}

    def core(self, network: Network = Network.VGG19, *, size: tuple[int, int] | None = None, weights: Path | None = None,
             style: Path | None = None, **optimize: object):  # noqa: ANN201
        model = ModelConfig(network=network, weights=weights or self.weights[network], device=DeviceChoice(self.device.type))
        return build_core(model, StyleConfig(images=(style or style_image(),)), OptimizeConfig(**optimize),
                          content_size=size or self.size, cache_dir=None, device=self.device)  # fmt: skip

    def with_runtime(self, stylizer: Stylizer, **changes: object) -> Stylizer:
        runtime = replace(stylizer.runtime, **changes)
        model = ModelConfig(network=stylizer.extractor.architecture.network, weights=self.weights[Network.VGG19])
        return Stylizer(stylizer.extractor, stylizer.style, model=model, optimize=stylizer.optimize, runtime=runtime,
                        style_at=stylizer.style_at)  # fmt: skip

    def step_seconds(self, stylizer: Stylizer, *, batch: int = 1, steps: int = 4, repeats: int = 3,
                     size: tuple[int, int] | None = None) -> float:  # fmt: skip
        """Seconds per image per optimization step (the fastest of ``repeats`` runs of ``steps`` steps)."""
        frames = self.warm_batch(stylizer, batch=batch, size=size)

        def once() -> float:
            sync(self.device)
            started = time.perf_counter()
            for _ in range(steps):
                frames.step()
            sync(self.device)
            return (time.perf_counter() - started) / steps / batch

        return fastest(once, repeats)

    def warm_batch(self, stylizer: Stylizer, *, batch: int = 1, size: tuple[int, int] | None = None):  # noqa: ANN201
        """A batch of ``batch`` random frames with an unreachable budget, after two warm-up steps."""
        width, height = size or self.size
        content = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(self.device)
        frames = stylizer.batch(batch, (width, height))
        for _ in range(batch):
            frames.add(FrameProblem(content=content, init=content, budget=10_000))
        frames.step()
        frames.step()  # warm-up: allocator, kernels, cuDNN autotuning
        return frames

    # ------------------------------------------------------------------------- sections
    def env(self) -> dict[str, object]:
        return {
            "machine": machine_name(self.device),
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(0) if self.device.type == "cuda" else "cpu",
            "torch": torch.__version__,
            "python": platform.python_version(),
            "working_size": list(self.size),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }

    def matmul(self) -> dict[str, object]:
        n = 256 if self.dry else 2048
        rates = {"fp32": matmul_gflops(self.device, torch.float32, n)}
        if self.device.type == "cuda":
            n = 8192
            rates["fp32"] = matmul_gflops(self.device, torch.float32, n)
            rates["bf16"] = matmul_gflops(self.device, torch.bfloat16, n)
            torch.backends.cuda.matmul.allow_tf32 = True
            rates["tf32"] = matmul_gflops(self.device, torch.float32, n)
            torch.backends.cuda.matmul.allow_tf32 = False
        dtype = "bf16" if self.device.type == "cuda" else "fp32"
        return {"n": n, "gflops": rates, "step_dtype": dtype}

    def flops(self) -> dict[str, object]:
        from torch.utils.flop_counter import FlopCounterMode

        out: dict[str, object] = {}
        for network in Network:
            core = self.core(network)
            deepest = deepest_layer(ModelConfig(network=network))
            by_shape = vgg_step_flops(network, self.size, deepest)
            width, height = self.size
            content = torch.rand(1, 3, height, width).to(self.device)
            frames = core.stylizer.batch(1, self.size)
            frames.add(FrameProblem(content=content, init=content, budget=10))
            with FlopCounterMode(display=False) as counter:
                frames.step()  # one optimization step: network forward, losses, input-gradient backward
            counted = float(counter.get_total_flops())
            out[network.value] = {"gflop_shapes": by_shape / 1e9, "gflop_counted": counted / 1e9, "counted_over_shapes": counted / by_shape}
        out["vgg16_over_vgg19"] = out["vgg16"]["gflop_shapes"] / out["vgg19"]["gflop_shapes"]  # type: ignore[index]
        return out

    def step(self) -> dict[str, object]:
        rate = self.results.get("matmul") or self.matmul()
        gflops = rate["gflops"][rate["step_dtype"]]  # type: ignore[index]
        steps, repeats = (2, 1) if self.dry else (4, 3)
        out: dict[str, object] = {}
        for network in Network:
            stylizer = self.core(network, tolerance=0).stylizer
            flops = vgg_step_flops(network, self.size, deepest_layer(ModelConfig(network=network)))
            floor = flops / (gflops * 1e9)
            variants: dict[str, Stylizer] = {
                "default": stylizer,
                "other_layout": self.with_runtime(stylizer, channels_last=not stylizer.runtime.channels_last),
            }
            row: dict[str, object] = {"floor_s": floor, "layout": "channels_last" if stylizer.runtime.channels_last else "nchw"}
            # Interleaved, so a change in the machine's load hits every variant alike.
            timings: dict[str, list[float]] = {}
            for _ in range(repeats):
                for name, variant in variants.items():
                    variant.runtime.prepare(variant.extractor)  # the variants share the network: set its layout for each
                    timings.setdefault(name, []).append(self.step_seconds(variant, steps=steps, repeats=1))
                stylizer.runtime.prepare(stylizer.extractor)
                timings.setdefault("batch2", []).append(self.step_seconds(stylizer, batch=2, steps=steps, repeats=1))
            stylizer.runtime.prepare(stylizer.extractor)
            for name, values in timings.items():
                seconds = min(values)
                row[name] = {"s_per_step": seconds, "efficiency": floor / seconds}
            row["other_layout_over_default"] = row["other_layout"]["s_per_step"] / row["default"]["s_per_step"]  # type: ignore[index]
            row["batch2_speedup"] = row["default"]["s_per_step"] / row["batch2"]["s_per_step"]  # type: ignore[index]
            out[network.value] = row
        stylizer = self.core(Network.VGG19, tolerance=0).stylizer
        bf16 = self.with_runtime(stylizer, precision=Precision.BF16)
        out["vgg19_bf16_s_per_step"] = self.step_seconds(bf16, steps=2, repeats=1)
        if self.args.compile:
            compiled = self.with_runtime(stylizer, compile=True)
            started = time.perf_counter()
            self.step_seconds(compiled, steps=1, repeats=1)
            out["vgg19_compile_first_s"] = time.perf_counter() - started
            out["vgg19_compile_s_per_step"] = self.step_seconds(compiled, steps=steps, repeats=repeats)
            out["vgg19_eager_s_per_step"] = self.step_seconds(stylizer, steps=steps, repeats=repeats)
        return out

    def profile(self) -> dict[str, object]:
        """Where one VGG19 step's time goes: each convolution's forward and input-gradient backward, with the rate it
        reaches against the matmul rate, and the other operators (torch.profiler, so the times carry its overhead;
        the step's wall time is measured without it)."""
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        rate = self.results.get("matmul") or self.matmul()
        gflops = rate["gflops"][rate["step_dtype"]]  # type: ignore[index]
        steps = 2 if self.dry else 5
        stylizer = self.core(Network.VGG19, tolerance=0).stylizer
        wall = self.step_seconds(stylizer, steps=steps, repeats=1 if self.dry else 3)
        frames = self.warm_batch(stylizer)
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(steps):
                frames.step()
        layers: dict[str, dict[str, float]] = {}
        conv_ms = 0.0
        for event in prof.key_averages(group_by_input_shape=True):
            shapes = event.input_shapes
            if event.key == "aten::convolution":
                (n, c, h, w), weight, part = shapes[0], shapes[1], "forward"
            elif event.key == "aten::convolution_backward":
                (n, c, h, w), weight, part = shapes[1], shapes[2], "backward"
            else:
                continue
            # Layers of the same shape (conv3_2-3_4, conv4_2-4_4) share a row: count them.
            calls = event.count / steps
            flop = 2 * n * weight[0] * c * weight[2] * weight[3] * h * w * calls  # same-padded 3x3: the output is h x w
            ms = event.cpu_time_total / 1000 / steps
            conv_ms += ms
            row = layers.setdefault(f"{c}->{weight[0]} at {w}x{h}" + (f" (x{calls:.0f})" if calls > 1 else ""), {})
            row[f"{part}_ms"] = ms
            row[f"{part}_efficiency"] = flop / (gflops * 1e9) / (ms / 1000)
        # Everything else by self time: pooling, ReLU and its backward, Grams, losses, the optimizer's vector work.
        others = sorted(
            ((e.key, e.self_cpu_time_total / 1000 / steps) for e in prof.key_averages()
             if "conv" not in e.key and e.self_cpu_time_total > 0),
            key=lambda kv: -kv[1],
        )
        return {
            "step_ms": 1000 * wall,
            "convolutions_ms": conv_ms,
            "convolution_share": conv_ms / (1000 * wall),
            "layers": layers,
            "top_other_ops_ms": dict(others[:8]),
        }

    def frames(self) -> dict[str, object]:
        from vidstyle.methods.optimize import FrameStarter

        weights = VGG16_WEIGHTS if VGG16_WEIGHTS.is_file() and not self.dry else None
        paths = [SHARED / "frames" / "marple8" / f"marple8_0{i}.ppm" for i in (1, 2)]
        if not all(p.is_file() for p in paths):
            return {"skipped": "../shared/data/frames/marple8 is absent"}
        images = [cv2.imread(str(p)) for p in paths]
        size = working_size(images[0].shape[1], images[0].shape[0], 64 if self.dry else self.args.size)
        contents = [resize(image, size) for image in images]
        budget = 8 if self.dry else (self.args.first_budget or OptimizeConfig().iterations)
        # Coarse-to-fine is off by default: turn it on here, where only cold starts (cold=True) use it.
        core = self.core(Network.VGG16, size=size, weights=weights, style=style_image(), coarse_to_fine=CoarseToFine.ON)
        stylizer = core.stylizer
        content = bgr_to_tensor(contents[0], device=self.device)

        def timed(init: torch.Tensor, cold: bool, **kwargs: object):  # noqa: ANN202
            stamps: list[tuple[int, float, float]] = []
            sync(self.device)
            started = time.perf_counter()
            result = stylizer.stylize(content if "content" not in kwargs else kwargs.pop("content"), init=init, budget=kwargs.pop("budget", budget),
                                      cold=cold, on_step=lambda r: stamps.append((r.step, time.perf_counter() - started, r.loss)), **kwargs)  # type: ignore[arg-type]  # fmt: skip
            sync(self.device)
            return result, stamps, time.perf_counter() - started

        single, single_stamps, single_seconds = timed(content, cold=False)
        c2f, c2f_stamps, c2f_seconds = timed(content, cold=True)
        target = single.final.total
        coarse = sum(c2f.coarse_steps)
        reached = next(((step, t) for step, t, loss in c2f_stamps if step > coarse and loss <= target), None)
        coarse_seconds = next((t for step, t, _ in c2f_stamps if step == coarse), 0.0)
        out: dict[str, object] = {
            "weights": "imagenet vgg16 (shared)" if weights else "random vgg16",
            "size": list(size),
            "style": style_image().name,
            "budget": budget,
            "first_single": {"steps": single.steps, "seconds": single_seconds, "loss": single.final.total, "style": single.final.style,
                             "content": single.final.content, "stopped_early": single.stopped_early},
            "first_coarse_to_fine": {"coarse_steps": list(c2f.coarse_steps), "coarse_seconds": coarse_seconds, "steps": c2f.steps,
                                     "seconds": c2f_seconds, "loss": c2f.final.total, "style": c2f.final.style, "content": c2f.final.content,
                                     "full_size_steps_to_single_loss": None if reached is None else reached[0] - coarse,
                                     "seconds_to_single_loss": None if reached is None else reached[1]},
        }  # fmt: skip
        out["coarse_to_fine_time_ratio"] = (reached[1] if reached else c2f_seconds) / single_seconds
        out["coarse_to_fine_reached_single_loss"] = reached is not None

        # A later frame, started from the first (coarse-to-fine) frame warped along the flow.
        settings_t = TemporalConfig()
        starter = FrameStarter(OptimizeConfig(), settings_t, working_size=size, device=self.device, shots=ShotsConfig())
        first_bgr = tensor_to_bgr(c2f.image)
        start = starter.start(1, contents[1], contents[0], first_bgr)
        later_content = bgr_to_tensor(contents[1], device=self.device)
        # Same objective as the first frame (no temporal term): steps to reach the first frame's loss.
        warm, warm_stamps, warm_seconds = timed(start.init, cold=False, content=later_content)
        reached_warm = next(((step, t) for step, t, loss in warm_stamps if loss <= c2f.final.total), None)
        # As a run does it: flow-mode temporal term, the default budget for later frames.
        default, _, default_seconds = timed(start.init, cold=False, content=later_content, budget=OptimizeConfig().iterations_next,
                                            temporal=start.temporal)  # fmt: skip
        out["later_warm"] = {
            "steps_to_first_loss": None if reached_warm is None else reached_warm[0],
            "seconds_to_first_loss": None if reached_warm is None else reached_warm[1],
            "steps": warm.steps, "seconds": warm_seconds, "loss": warm.final.total,
            "flow_seconds": start.flow_seconds,
        }  # fmt: skip
        out["later_default"] = {"steps": default.steps, "seconds": default_seconds, "content": default.final.content,
                                "style": default.final.style, "temporal": default.final.temporal}  # fmt: skip
        pictures = self.args.pictures or Path(tempfile.mkdtemp(prefix="vidstyle-bench-pictures-"))
        pictures.mkdir(parents=True, exist_ok=True)
        side = cv2.hconcat([contents[0], tensor_to_bgr(single.image), first_bgr])
        name = pictures / f"first_frame_{size[0]}x{size[1]}_content_single_coarse-to-fine.png"
        cv2.imwrite(str(name), side)
        later = cv2.hconcat([contents[1], tensor_to_bgr(default.image)])
        cv2.imwrite(str(pictures / f"later_frame_{size[0]}x{size[1]}_content_default.png"), later)
        print(f"pictures: {pictures}", file=sys.stderr)
        return out

    def split(self) -> dict[str, object]:
        from vidstyle.files import encode_image, write_bytes_atomic
        from vidstyle.pipeline.events import FrameDone, RunStarted, SegmentEncoded, ShotsPlanned
        from vidstyle.pipeline.run import stylize

        clip = SHARED / "videos" / "issue-134-rotate.mp4"
        if not clip.is_file():
            return {"skipped": f"{clip} is absent"}
        frames = 6 if self.dry else self.args.split_frames
        settings = Settings(
            model=ModelConfig(weights=self.weights[Network.VGG19], device=DeviceChoice(self.device.type)),
            style=StyleConfig(images=(style_image(),)),
            select=SelectConfig(start="#48", max_frames=frames, max_size=64 if self.dry else (self.args.split_size or self.args.size)),
            run=RunConfig(segment_frames=max(2, frames // 2)),
            optimize=OptimizeConfig(iterations=4, iterations_next=2) if self.dry else OptimizeConfig(),
        )
        stamps: dict[str, float] = {}
        encodes: list[float] = []
        cuts = [0.0]
        size: list[int] = []

        def on_event(event: object) -> None:
            now = time.perf_counter()
            if isinstance(event, RunStarted):
                stamps["frames_start"] = now
                size[:] = event.working_size
            elif isinstance(event, FrameDone):
                stamps["frames_end"] = now
            elif isinstance(event, SegmentEncoded):
                encodes.append(event.seconds)
            elif isinstance(event, ShotsPlanned):
                cuts[0] = event.seconds

        with tempfile.TemporaryDirectory(prefix="vidstyle-bench-") as tmp:
            started = time.perf_counter()
            result = stylize(clip, Path(tmp) / "out.mp4", settings=settings, on_event=on_event)
            wall = time.perf_counter() - started
            image = resize(cv2.imread(str(style_image())), (size[0], size[1]))
            write = fastest(lambda: _timed(lambda: write_bytes_atomic(Path(tmp) / "probe.png", encode_image(image, ".png"))), 5)
        records = result.records
        n = len(records)
        frames_wall = stamps["frames_end"] - stamps["frames_start"]
        optimize = sum(r.optimize_seconds for r in records)
        per_frame = {
            "decode": sum(r.decode_seconds for r in records) / n,
            "cut_detection": cuts[0] / n,
            "flow": sum(r.flow_seconds for r in records) / n,
            "optimize": optimize / n,
            "encode": sum(encodes) / n,
            "png_write": write,
        }
        # Everything but the optimizer, as the run's wall clock sees it: the cut pass before the first
        # frame, what the chain waited for, conversions, the final assembly. Decode, flow, PNG writes
        # and segment encodes run beside the optimizer and count only where they were waited for.
        setup = stamps["frames_start"] - started - cuts[0]
        per_frame["other"] = (wall - setup - optimize) / n - per_frame["cut_detection"]
        warm = list(records[1:])
        return {
            "clip": f"{clip.name} from frame 48, {n} frames, {size[0]}x{size[1]}",
            "frames": n,
            "wall_s": wall,
            "setup_s": setup,
            "frames_wall_s": frames_wall,
            "per_frame_s": per_frame,
            "later_frame_s": statistics.mean(r.seconds for r in warm) if warm else None,
            "later_frame_steps": statistics.mean(r.steps for r in warm) if warm else None,
            "first_frame_s": records[0].seconds,
            "first_frame_steps": records[0].steps,
            "non_optimizer_share": (wall - setup - optimize) / (wall - setup),
        }

    def memory(self) -> dict[str, object]:
        lengths = (6, 12) if self.dry else (50, 500)
        size = 32
        from benchmarks._common import make_clip

        rows = []
        with tempfile.TemporaryDirectory(prefix="vidstyle-bench-memory-") as tmp:
            folder = Path(tmp)
            clip = make_clip(folder / "clip.mp4", frames=max(lengths))
            for frames in lengths:
                done = subprocess.run(
                    [sys.executable, str(REPO / "benchmarks" / "memory.py"), "--size", str(size), "--child", str(clip),
                     str(self.weights[Network.VGG19]), str(frames), str(folder)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return {
            "size": size,
            "runs": rows,
            "growth_mib": rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"],
        }

    def batch(self) -> dict[str, object]:
        from vidstyle.pipeline.run import stylize

        clip = SHARED / "videos" / "issue-134-rotate.mp4"
        if not clip.is_file():
            return {"skipped": f"{clip} is absent"}
        frames = 6 if self.dry else self.args.batch_frames
        size = 64 if self.dry else self.args.batch_size
        out: dict[str, object] = {"frames": frames, "size": size, "chains": 2}
        timings: dict[int, list[float]] = {1: [], 2: []}
        with tempfile.TemporaryDirectory(prefix="vidstyle-bench-batch-") as tmp:
            for repeat in range(1 if self.dry else self.args.batch_repeats):
                for chains in (1, 2):
                    settings = Settings(
                        model=ModelConfig(weights=self.weights[Network.VGG19], device=DeviceChoice(self.device.type), batch_chains=chains),
                        style=StyleConfig(images=(style_image(),)),
                        select=SelectConfig(start="#48", max_frames=frames, max_size=size),
                        shots=ShotsConfig(cuts=f"{48 + frames // 2}"),  # two shots: two chains
                        optimize=OptimizeConfig(iterations=4, iterations_next=2) if self.dry else OptimizeConfig(iterations=60, iterations_next=20),
                    )
                    started = time.perf_counter()
                    stylize(clip, Path(tmp) / f"out{chains}_{repeat}.mp4", settings=settings)
                    timings[chains].append(time.perf_counter() - started)
        out["seconds"] = {str(k): min(v) for k, v in timings.items()}
        out["speedup_2_over_1"] = min(timings[1]) / min(timings[2])
        return out

    def gpu(self) -> dict[str, object]:
        if self.device.type != "cuda" and not self.dry:
            return {"skipped": "needs --device cuda"}
        rate = self.results.get("matmul") or self.matmul()
        bf16 = rate["gflops"].get("bf16", rate["gflops"]["fp32"])  # type: ignore[index]
        out: dict[str, object] = {}
        sizes = [(128, 72)] if self.dry else [(960, 540), (1920, 1080)]
        for size in sizes:
            stylizer = self.core(Network.VGG19, size=size, tolerance=0).stylizer
            seconds = self.step_seconds(stylizer, size=size, steps=2 if self.dry else 10, repeats=1 if self.dry else 3)
            flops = vgg_step_flops(Network.VGG19, size, "relu5_1")
            out[f"{size[0]}x{size[1]}"] = {
                "s_per_step": seconds,
                "efficiency_vs_bf16_matmul": flops / (bf16 * 1e9) / seconds,
                "fps_at_20_steps": 1.0 / (20 * seconds),  # the optimizer alone; the split section shows what else a frame costs
            }
        out["runs"] = self.gpu_runs()
        stylizer = self.core(Network.VGG19, tolerance=0).stylizer
        batches = (1, 2) if self.dry else (1, 8, 16, 32, 64)
        one = None
        for k in batches:
            seconds = self.step_seconds(stylizer, batch=k, steps=2 if self.dry else 10, repeats=1 if self.dry else 3)
            one = one or seconds
            out[f"batch{k}_images_per_s"] = 1.0 / seconds
            out[f"batch{k}_throughput_over_1"] = one / seconds
        return out


    def gpu_runs(self) -> dict[str, object]:
        """Whole runs in flow mode (the default 20 steps per later frame) on a 1920x1080 clip: later frames per second."""
        from benchmarks._common import make_clip
        from vidstyle.pipeline.events import FrameDone, RunStarted
        from vidstyle.pipeline.run import stylize

        frames = 4 if self.dry else 12
        sizes = (128, 256) if self.dry else (960, 1920)
        out: dict[str, object] = {}
        with tempfile.TemporaryDirectory(prefix="vidstyle-bench-gpu-") as tmp:
            clip = make_clip(Path(tmp) / "clip.mp4", frames=frames, width=1920, height=1080)
            for long_side in sizes:
                done: list[float] = []
                begun: list[float] = []

                def on_event(event: object, done: list[float] = done, begun: list[float] = begun) -> None:
                    if isinstance(event, FrameDone):
                        done.append(time.perf_counter())
                    elif isinstance(event, RunStarted):
                        begun.append(time.perf_counter())

                settings = Settings(
                    model=ModelConfig(weights=self.weights[Network.VGG19], device=DeviceChoice(self.device.type)),
                    style=StyleConfig(images=(style_image(),)),
                    select=SelectConfig(max_size=long_side),
                    shots=ShotsConfig(cuts="off"),
                    optimize=OptimizeConfig(iterations=4, iterations_next=2) if self.dry else OptimizeConfig(),
                )
                stylize(clip, Path(tmp) / f"out{long_side}.mp4", settings=settings, on_event=on_event)
                later = done[1:]
                fps = (len(later) - 1) / (later[-1] - later[0]) if len(later) > 1 else None
                out[f"{long_side}"] = {"frames": len(done), "later_frames_per_s": fps, "first_frame_s": done[0] - begun[0]}
        return out


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# ----------------------------------------------------------------------------- table


def fmt(value: object, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}{unit}"
    return f"{value}{unit}"


def table(results: dict) -> str:  # noqa: C901 - one row per figure
    rows: list[tuple[str, str]] = []
    env = results.get("env", {})
    if "matmul" in results:
        m = results["matmul"]
        rows.append((f"matmul rate ({m['step_dtype']}, n={m['n']})", ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in m["gflops"].items())))
    if "flops" in results:
        f = results["flops"]
        for net in ("vgg19", "vgg16"):
            rows.append((f"FLOPs per step, {net}", f"{f[net]['gflop_shapes']:.1f} GFLOP from the layer shapes, {f[net]['gflop_counted']:.1f} counted by torch (ratio {f[net]['counted_over_shapes']:.3f})"))
    if "step" in results:
        s = results["step"]
        for net in ("vgg19", "vgg16"):
            r = s[net]
            rows.append((f"one step, {net}, {r['layout']}", f"{1000 * r['default']['s_per_step']:.0f} ms, efficiency {r['default']['efficiency']:.2f} (floor {1000 * r['floor_s']:.0f} ms)"))
            other = "NCHW" if r["layout"] == "channels_last" else "channels_last"
            rows.append((f"  {other} instead of {r['layout']}, {net}", f"{1000 * r['other_layout']['s_per_step']:.0f} ms ({r['other_layout_over_default']:.2f}x the time)"))
            rows.append((f"  two frames per pass (--batch-chains 2), {net}", f"{1000 * r['batch2']['s_per_step']:.0f} ms per frame-step ({r['batch2_speedup']:.2f}x one frame's rate)"))
        rows.append(("one step, vgg19, bf16 autocast", f"{1000 * s['vgg19_bf16_s_per_step']:.0f} ms"))
        if "vgg19_compile_s_per_step" in s:
            rows.append(("one step, vgg19, torch.compile", f"{1000 * s['vgg19_compile_s_per_step']:.0f} ms against {1000 * s['vgg19_eager_s_per_step']:.0f} ms eager (first call {s['vgg19_compile_first_s']:.0f} s)"))
    if "profile" in results:
        pr = results["profile"]
        rows.append(("profile of one vgg19 step (torch.profiler)", f"{pr['step_ms']:.0f} ms, convolutions {pr['convolutions_ms']:.0f} ms ({100 * pr['convolution_share']:.0f}%)"))
        for name, layer in pr["layers"].items():
            rows.append((f"  conv {name}", f"forward {layer.get('forward_ms', 0):.1f} ms (efficiency {layer.get('forward_efficiency', 0):.2f}), "
                                           f"backward {layer.get('backward_ms', 0):.1f} ms ({layer.get('backward_efficiency', 0):.2f})"))
        rows.append(("  other operators, self time", ", ".join(f"{k} {v:.1f} ms" for k, v in pr["top_other_ops_ms"].items())))
    if "frames" in results and "skipped" not in results["frames"]:
        f = results["frames"]
        a, b = f["first_single"], f["first_coarse_to_fine"]
        where = f"{f['weights']}, {f['size'][0]}x{f['size'][1]}, {f['style']}, budget {f.get('budget', 300)}"
        rows.append((f"first frame, single scale ({where})", f"{a['steps']} steps, {a['seconds']:.0f} s, loss {a['loss']:.4g} (style {a['style']:.4g})"))
        reach = "never reaches it" if b["seconds_to_single_loss"] is None else f"reaches the single-scale loss after {b['seconds_to_single_loss']:.0f} s ({b['full_size_steps_to_single_loss']} full-size steps)"
        rows.append(("first frame, coarse to fine", f"{b['coarse_steps']} coarse + {b['steps'] - sum(b['coarse_steps'])} full-size steps, {b['seconds']:.0f} s, loss {b['loss']:.4g} (style {b['style']:.4g}); {reach}: {f['coarse_to_fine_time_ratio']:.2f}x the time"))
        w, d = f["later_warm"], f["later_default"]
        rows.append(("later frame, warm start, same objective", f"{fmt(w['steps_to_first_loss'])} steps / {fmt(w['seconds_to_first_loss'], ' s')} to the first frame's loss"))
        rows.append(("later frame, default (flow, 20 steps)", f"{d['steps']} steps, {d['seconds']:.1f} s; style {d['style']:.4g}, content {d['content']:.4g}"))
    if "split" in results and "skipped" not in results["split"]:
        s = results["split"]
        p = s["per_frame_s"]
        rows.append((f"per-frame split ({s['clip']})", ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in p.items())))
        rows.append(("everything but the optimizer, share of the run (setup excluded)", f"{100 * s['non_optimizer_share']:.1f}%"))
        rows.append(("first frame / later frames", f"{s['first_frame_steps']} steps {s['first_frame_s']:.0f} s / {fmt(s['later_frame_steps'])} steps {fmt(s['later_frame_s'], ' s')}"))
    if "memory" in results:
        m = results["memory"]
        rows.append((f"peak RSS, {m['size']} px", ", ".join(f"{r['frames']} frames {r['peak_rss_mib']:.0f} MiB" for r in m["runs"]) + f"; growth {m['growth_mib']:.0f} MiB"))
    if "batch" in results and "skipped" not in results["batch"]:
        b = results["batch"]
        rows.append((f"whole run, two chains, {b['frames']} frames at {b['size']} px", f"--batch-chains 1 {b['seconds']['1']:.0f} s, 2 {b['seconds']['2']:.0f} s ({b['speedup_2_over_1']:.2f}x)"))
    if "gpu" in results and "skipped" not in results["gpu"]:
        for key, value in results["gpu"].items():
            rows.append((f"gpu {key}", json.dumps(value)))
    lines_targets = targets(results)
    head = f"Machine: {env.get('machine', '?')} ({env.get('cpu', '')}, {env.get('cores', '?')} cores, torch {env.get('torch', '?')}, {env.get('threads', '?')} threads)"
    lines = [head, "", "| what | figure |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    if lines_targets:
        lines += ["", "| CPU target | measured | |", "|---|---|---|"] + lines_targets
    return "\n".join(lines)


def targets(results: dict) -> list[str]:
    """The issue's CPU targets against the stored figures: one row each, met or missed."""
    rows = []

    def row(what: str, measured: float | None, ok: bool | None, shown: str) -> None:
        verdict = "not measured" if measured is None else ("met" if ok else "missed")
        rows.append(f"| {what} | {shown if measured is not None else '-'} | {verdict} |")

    step = results.get("step", {}).get("vgg19", {}).get("default")
    value = step["efficiency"] if step else None
    row("efficiency >= 0.85 (VGG19 step)", value, value is not None and value >= 0.85, f"{value:.2f}" if value else "")
    frames = results.get("frames", {})
    ratio = frames.get("coarse_to_fine_time_ratio")
    if ratio is not None:
        lower = frames["first_coarse_to_fine"]["loss"] <= frames["first_single"]["loss"]
        reached = frames.get("coarse_to_fine_reached_single_loss")
        shown = f"{ratio:.2f}x the time" + ("" if reached else " (never reached the single-scale loss)") + f", final loss {'<=' if lower else '>'} single-scale"
        row("coarse-to-fine cold start <= 0.5x the single-scale time, equal or lower loss", ratio, bool(reached) and ratio <= 0.5, shown)
    split = results.get("split", {})
    share = split.get("non_optimizer_share")
    row("everything but the optimizer <= 3% of frame time", share, share is not None and share <= 0.03, f"{100 * share:.1f}%" if share is not None else "")
    memory = results.get("memory", {})
    growth = memory.get("growth_mib")
    row("RSS growth 50 -> 500 frames <= 50 MB", growth, growth is not None and growth * 1.048576 <= 50, f"{growth:.0f} MiB" if growth is not None else "")
    batch = results.get("batch", {})
    speedup = batch.get("speedup_2_over_1")
    row("--batch-chains 2 no slower than 1 (whole run)", speedup, speedup is not None and speedup >= 1.0, f"{speedup:.2f}x" if speedup is not None else "")
    return rows


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=[d.value for d in DeviceChoice])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--size", type=int, default=256, help="working long side")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--first-budget", type=int, default=None, help="frames section: the first frame's budget (default: the CLI's, 300)")
    parser.add_argument("--split-frames", type=int, default=12)
    parser.add_argument("--split-size", type=int, default=None, help="split section: working long side (default: --size)")
    parser.add_argument("--batch-repeats", type=int, default=2)
    parser.add_argument("--batch-frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile on the CPU)")
    parser.add_argument("--pictures", type=Path, default=None, help="where the frames section saves its side-by-sides (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="default: benchmarks/results/<machine>.json")
    parser.add_argument("--table", action="store_true", help="print the table of the stored JSON and exit")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bench = Bench(args)
    path = args.json or RESULTS / f"{machine_name(bench.device)}.json"
    stored: dict = json.loads(path.read_text()) if path.is_file() and not args.dry_run else {}
    if args.table:
        print(table(stored))
        return 0
    bench.results = stored
    for name in [s.strip() for s in args.sections.split(",") if s.strip()]:
        if name not in SECTIONS:
            parser.error(f"unknown section {name}; choose from {', '.join(SECTIONS)}")
        before = load()
        started = time.perf_counter()
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        value = getattr(bench, name)()
        if isinstance(value, dict):
            value["load_before"], value["load_after"], value["section_s"] = before, load(), round(time.perf_counter() - started, 1)
        bench.results[name] = value
        print(f"[{name}] {json.dumps(value)}", file=sys.stderr, flush=True)
        if not args.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(bench.results, indent=1) + "\n")
    print(table(bench.results))
    if not args.dry_run:
        print(f"\nwritten: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
