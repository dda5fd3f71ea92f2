"""Every default checked against real ImageNet features: numbers for the table of docs/defaults.md, and pictures.

Uses the shared ImageNet weights (../shared/data/weights; VGG16 unless --network vgg19), the shared
styles (The Starry Night, The Scream, The Shipwreck) and real frames (marple8,
frames of issue-134-rotate.mp4). Each experiment varies one setting around the
defaults, prints a markdown table and writes a PNG grid of what it made to
--looks (look at it: the losses alone do not say whether a frame reads).

    uv run python benchmarks/defaults.py border   [--sizes 128,256]           # zero vs replicate padding
    uv run python benchmarks/defaults.py balance  [--values 1,3,10,30]        # style weight (content weight 1)
    uv run python benchmarks/defaults.py tv       [--values 0.001,1,10]
    uv run python benchmarks/defaults.py budget   [--steps 600]              # loss against steps, early stop
    uv run python benchmarks/defaults.py scale    [--values 0.5,1,2]         # --style-scale
    uv run python benchmarks/defaults.py pooling                             # avg vs max
    uv run python benchmarks/defaults.py warm     [--values 10,20,40] [--temporal-weights 100,500,2000]

Finished frames are cached by configuration (--cache), so the default configuration, which every
experiment includes, runs once. Common options: --size (256), --contents marple8,rotate235 --styles starry_night,the_scream,shipwreck,
--threads (1), --looks DIR (PNG grids; default a temporary folder), --json FILE, and any
default to hold fixed while another varies (--style-weight, --tv-weight, --padding, ...).

Measures, per frame: steps used, seconds, the style loss from the content init to the end (and the
factor), the content loss (normalised squared error at relu4_2; its square root is the "content
distance" as a fraction of the content's own magnitude), and the border statistic: the mean absolute
difference (levels of 255) between the outermost pixel row/column and the next, over the four edges,
against the median of the same difference between all neighbouring rows and columns.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED  # noqa: E402
from vidstyle.config import (  # noqa: E402
    ModelConfig,
    Network,
    OptimizeConfig,
    Padding,
    Pooling,
    Settings,
    StyleConfig,
    TemporalConfig,
    TemporalMode,
    settings_to_json,
)
from vidstyle.methods.base import FrameTask  # noqa: E402
from vidstyle.methods.optimize import OptimizeMethod  # noqa: E402
from vidstyle.model.build import Core, build_core, load_extractor  # noqa: E402
from vidstyle.model.stylizer import stalled  # noqa: E402
from vidstyle.temporal.metric import warping_error  # noqa: E402
from vidstyle.video.pixels import bgr_to_tensor, resize, tensor_to_bgr, working_size  # noqa: E402
from vidstyle.video.sheet import Tile, compose  # noqa: E402
from vidstyle.video.sources import open_source, read_image  # noqa: E402

WEIGHTS = {"vgg16": SHARED / "weights" / "vgg16_imagenet_features.pth", "vgg19": SHARED / "weights" / "vgg19_imagenet_features.pth"}
STYLES = ("starry_night", "the_scream", "shipwreck")
# name -> (file, frame indices of a sequence; the first is the still used by single-frame experiments)
CONTENTS = {
    "marple8": (SHARED / "frames" / "marple8", (0, 1, 2, 3, 4)),  # 450x350, real camera motion
    "rotate235": (SHARED / "videos" / "issue-134-rotate.mp4", tuple(range(228, 236))),  # two faces, 544x1280 upright
    "rotate60": (SHARED / "videos" / "issue-134-rotate.mp4", tuple(range(60, 68))),  # a control panel
    # The sample clip: flat sky along the top edge, where a zero-padded conv1_1 sees an edge the image lacks.
    "clip": (Path(__file__).resolve().parent.parent / "samples" / "clip.mp4", tuple(range(12, 17))),
}


# --------------------------------------------------------------------------- inputs


def read_sequence(name: str) -> list[np.ndarray]:
    path, indices = CONTENTS[name]
    if path.is_dir():
        return [read_image(sorted(path.glob("*.ppm"))[i]) for i in indices]
    with open_source(path) as source:
        return [frame for _, frame in source.read(indices)]


def at_size(image: np.ndarray, size: int) -> np.ndarray:
    return resize(image, working_size(image.shape[1], image.shape[0], size))


# --------------------------------------------------------------------------- measures


def border_edges(image: np.ndarray) -> tuple[list[float], float]:
    """([top, bottom, left, right] mean |outermost row/column - the next one|, median of that over all rows and columns), in levels."""
    pixels = image.astype(np.float32)
    rows = np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2))  # H-1 values
    cols = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))  # W-1 values
    edges = [float(rows[0]), float(rows[-1]), float(cols[0]), float(cols[-1])]
    return edges, float(np.median(np.concatenate([rows, cols])))


def border_statistic(image: np.ndarray) -> tuple[float, float]:
    """(the worst of the four edges, the median between neighbouring rows and columns), in levels of 255."""
    edges, median = border_edges(image)
    return max(edges), median


@dataclass
class Outcome:
    experiment: str
    setting: str
    content: str
    style: str
    size: str
    steps: int
    seconds: float
    style_initial: float
    style_final: float
    content_final: float
    border_edge: float
    border_median: float
    extra: dict[str, float]

    @property
    def factor(self) -> float:
        return self.style_initial / self.style_final if self.style_final > 0 else float("inf")


class Lab:
    """Cores (extractor + style targets + optimizer) built on demand and reused."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.extractors: dict[tuple, object] = {}
        self.outcomes: list[Outcome] = []

    def model(self, **changes: object) -> ModelConfig:
        base = ModelConfig(
            network=Network(self.args.network),
            weights=self.args.weights,
            padding=Padding(self.args.padding),
            pooling=Pooling(self.args.pooling),
        )
        return replace(base, **changes)

    def optimize(self, **changes: object) -> OptimizeConfig:
        a = self.args
        base = OptimizeConfig(
            iterations=a.iterations,
            iterations_next=a.iterations_next,
            content_weight=a.content_weight,
            style_weight=a.style_weight,
            tv_weight=a.tv_weight,
            tolerance=a.tolerance,
        )
        return replace(base, **changes)

    def core(self, model: ModelConfig, style: StyleConfig, optimize: OptimizeConfig, size: tuple[int, int]) -> Core:
        key = (model.network, model.pooling, model.padding)
        if key not in self.extractors:
            self.extractors[key] = load_extractor(model, device=torch.device("cpu"))
        return build_core(
            model, style, optimize, content_size=size, cache_dir=None, device=torch.device("cpu"), loaded=self.extractors[key]
        )

    def style(self, name: str, **changes: object) -> StyleConfig:
        return StyleConfig(images=(SHARED / "styles" / f"{name}.jpg",), **changes)

    def first_frame(
        self,
        experiment: str,
        setting: str,
        content_name: str,
        style_name: str,
        *,
        size: int | None = None,
        model: ModelConfig | None = None,
        style: StyleConfig | None = None,
        optimize: OptimizeConfig | None = None,
        init: np.ndarray | None = None,
    ) -> tuple[np.ndarray, Outcome]:
        """Stylize the content's still from its content (a cold first frame) and measure it.

        Results are kept in --cache, keyed by everything that decides them, so
        experiments that share a configuration (the defaults, mostly) run it once.
        """
        image = at_size(read_sequence(content_name)[0], size or self.args.size)
        work = (image.shape[1], image.shape[0])
        optimize = optimize or self.optimize()
        model, style = model or self.model(), style or self.style(style_name)
        settings = Settings(model=model, style=style, optimize=optimize)
        facts = {"content": content_name, "size": work, "settings": settings_to_json(settings), "init": init is not None}
        key = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]
        cached = Path(self.args.cache) / f"{key}.json"
        if cached.is_file() and init is None:
            stored = json.loads(cached.read_text())
            out = cv2.imread(str(cached.with_suffix(".png")))
            outcome = Outcome(**{**stored, "experiment": experiment, "setting": setting})
        else:
            core = self.core(model, style, optimize, work)
            content = bgr_to_tensor(image)
            started = time.perf_counter()
            result = core.stylizer.stylize(
                content, init=bgr_to_tensor(init) if init is not None else content, budget=optimize.iterations
            )
            seconds = time.perf_counter() - started
            out = tensor_to_bgr(result.image)
            edge, median = border_statistic(out)
            outcome = Outcome(
                experiment=experiment,
                setting=setting,
                content=content_name,
                style=style_name,
                size=f"{work[0]}x{work[1]}",
                steps=result.steps,
                seconds=seconds,
                style_initial=result.initial.style,
                style_final=result.final.style,
                content_final=result.final.content,
                border_edge=edge,
                border_median=median,
                extra={"tv": result.final.tv, "edges": border_edges(out)[0], "history": list(result.history)},  # type: ignore[dict-item]
            )
            cached.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(cached.with_suffix(".png")), out)
            cached.write_text(json.dumps(asdict(outcome)))
        self.outcomes.append(outcome)
        print(
            f"  {experiment} {setting} {content_name}/{style_name} {outcome.size}: {outcome.steps} steps {outcome.seconds:.0f} s, "
            f"style {outcome.style_initial:.3g}->{outcome.style_final:.3g} ({outcome.factor:.1f}x), "
            f"content {outcome.content_final:.3f}, border {outcome.border_edge:.0f}/{outcome.border_median:.0f} "
            f"(top, bottom, left, right {', '.join(f'{e:.0f}' for e in outcome.extra['edges'])})",
            flush=True,
        )
        return out, outcome

    # ----------------------------------------------------------------------- output

    def save_grid(self, name: str, rows: list[list[Tile]], caption: str) -> None:
        folder = Path(self.args.looks)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"defaults_{name}.png"
        cv2.imwrite(str(path), compose(rows, caption=caption).image)
        print(f"  grid: {path}")

    def table(self, experiment: str) -> None:
        rows = [o for o in self.outcomes if o.experiment == experiment]
        print(f"\n### {experiment}\n")
        print("| setting | content / style | size | steps | s | style loss init -> final | factor | content loss | content distance | worst border edge / median |")
        print("|---|---|---|---:|---:|---|---:|---:|---:|---|")
        for o in rows:
            print(
                f"| {o.setting} | {o.content} / {o.style} | {o.size} | {o.steps} | {o.seconds:.0f} | "
                f"{o.style_initial:.3g} -> {o.style_final:.3g} | {o.factor:.1f}x | {o.content_final:.3f} | "
                f"{o.content_final ** 0.5:.2f} | {o.border_edge:.0f} / {o.border_median:.0f} |"
            )


def label(outcome: Outcome, text: str) -> str:
    return f"{text}: s {outcome.factor:.0f}x c {outcome.content_final:.2f} b {outcome.border_edge:.0f}"


# --------------------------------------------------------------------------- experiments


def sweep(lab: Lab, experiment: str, values: list[str], make: callable, caption: str) -> None:
    """For every content x style, one first frame per value; grid: one row per content/style, one column per value."""
    rows: list[list[Tile]] = []
    for content in lab.args.contents:
        for style in lab.args.styles:
            row = [Tile(at_size(read_sequence(content)[0], lab.args.size), f"{content} (input)")]
            for value in values:
                image, outcome = lab.first_frame(experiment, value, content, style, **make(value, style))
                row.append(Tile(image, label(outcome, f"{value} {style}")))
            rows.append(row)
    lab.save_grid(experiment, rows, caption + "  (s: style loss fall, c: content loss, b: border edge levels)")
    lab.table(experiment)


def run_border(lab: Lab) -> None:
    rows: list[list[Tile]] = []
    for size in lab.args.sizes:
        for content in lab.args.contents:
            for style in lab.args.styles:
                row = []
                for padding in [Padding(v) for v in (lab.args.values or [p.value for p in Padding])]:
                    image, outcome = lab.first_frame(
                        "border", f"{padding.value} {size}", content, style, size=size, model=lab.model(padding=padding)
                    )
                    row.append(Tile(image, label(outcome, padding.value)))
                rows.append(row)
    lab.save_grid("border", rows, "padding of the convolutions: zero | replicate-first | replicate")
    lab.table("border")
    inputs = [border_statistic(at_size(read_sequence(c)[0], s)) for s in lab.args.sizes for c in lab.args.contents]
    print("\ninputs' own worst border edge / median: " + ", ".join(f"{e:.0f} / {m:.0f}" for e, m in inputs))


def run_balance(lab: Lab) -> None:
    sweep(lab, "balance", lab.args.values or ["1", "3", "10", "30"],
          lambda v, _: {"optimize": lab.optimize(style_weight=float(v))}, "style weight (content weight 1)")  # fmt: skip


def run_tv(lab: Lab) -> None:
    sweep(lab, "tv", lab.args.values or ["0.001", "1", "10"],
          lambda v, _: {"optimize": lab.optimize(tv_weight=float(v))}, "tv weight")  # fmt: skip
    for o in lab.outcomes:
        print(f"  tv {o.setting} {o.content}/{o.style}: output TV {o.extra['tv']:.4f}")


def run_scale(lab: Lab) -> None:
    sweep(lab, "scale", lab.args.values or ["0.5", "1", "2"],
          lambda v, style: {"style": lab.style(style, scale=float(v))}, "style scale")  # fmt: skip


def run_pooling(lab: Lab) -> None:
    sweep(lab, "pooling", ["avg", "max"], lambda v, _: {"model": lab.model(pooling=Pooling(v))}, "pooling")


def run_budget(lab: Lab) -> None:
    """One long run without early stop per content/style: where would each tolerance stop, and what is left."""
    steps = lab.args.steps
    rows: list[list[Tile]] = []
    print("\n### budget\n")
    # At the product's balance (style weight 30) the content init's style loss is most of the drop, so the share of it
    # is past 99% by step 100; the loss above the long run's best says what the later steps still buy.
    print("| content / style | stop at (tolerance/10 steps): 3e-3 | 1e-3 | 3e-4 | 1e-4 | share of the loss drop to step "
          f"{steps} reached at: 100 | 200 | 300 | loss above the step-{steps} best at: 100 | 200 | 300 | the 1e-3 stop | s/step |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for content in lab.args.contents:
        for style in lab.args.styles:
            image, outcome = lab.first_frame(
                "budget", f"{steps} steps", content, style, optimize=lab.optimize(iterations=steps, tolerance=0.0)
            )
            history = outcome.extra["history"]
            stops = [_stop_step(history, tolerance, 10) for tolerance in (3e-3, 1e-3, 3e-4, 1e-4)]
            drop = history[0] - min(history)
            share = [(history[0] - min(history[:k])) / drop for k in (100, 200, 300)]
            above = [min(history[:k]) / min(history) - 1 for k in (100, 200, 300, stops[1])]
            print(f"| {content} / {style} | " + " | ".join(str(s) for s in stops) + " | "
                  + " | ".join(f"{s:.1%}" for s in share) + " | " + " | ".join(f"{a:+.1%}" for a in above)
                  + f" | {outcome.seconds / outcome.steps:.2f} |")  # fmt: skip
            default = lab.first_frame("budget", "default", content, style)[0]
            rows.append([Tile(default, f"default budget/early stop {style}"), Tile(image, f"{steps} steps, no early stop")])
    lab.save_grid("budget", rows, f"default first-frame budget with early stop, against {steps} steps without")


def _stop_step(history: list[float], tolerance: float, window: int) -> int:
    """The step at which the early stop (model/stylizer.py) would end the frame; len(history) if never."""
    for step in range(window + 1, len(history) + 1):
        if stalled(history[:step], window=window, tolerance=tolerance):
            return step
    return len(history)


def run_warm(lab: Lab) -> None:
    """Later frames: the warm start's budget and the temporal weight, on real motion, against cold frames (none)."""
    a = lab.args
    nexts = [int(v) for v in (a.values or ["10", "20", "40"])]
    weights = [float(v) for v in a.temporal_weights]
    print("\n### warm\n")
    print("| content / style | mode | iterations-next | temporal weight | warping error | vs none | style loss (later frames / first) | content loss | s/frame |")
    print(f"(none: the first {a.none_frames} frames, each from cold; the others: every frame, the first one shared with none; "
          f"warping error over the first {a.none_frames} frames, and over all)")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for content in a.contents:
        frames = [at_size(f, a.size) for f in read_sequence(content)]
        work = (frames[0].shape[1], frames[0].shape[0])
        for style in a.styles:
            core = lab.core(lab.model(), lab.style(style), lab.optimize(), work)
            runs: dict[str, list] = {}

            def run(mode: TemporalMode, iterations_next: int, weight: float, first: tuple | None) -> tuple:
                settings = Settings(
                    model=lab.model(), style=lab.style(style), optimize=lab.optimize(iterations_next=iterations_next),
                    temporal=TemporalConfig(mode=mode, weight=weight),
                )  # fmt: skip
                method = OptimizeMethod(core.stylizer, settings=settings, working_size=work, device=torch.device("cpu"), identity="")
                outputs, records, seconds = [], [], []
                for position, frame in enumerate(frames):
                    if position == 0 and first is not None:
                        outputs.append(first[0]), records.append(first[1]), seconds.append(first[2])
                        continue
                    task = FrameTask(
                        position=position, shot_offset=position, content=frame, cold=position == 0 or mode is TemporalMode.NONE,
                        previous_content=frames[position - 1] if position else None,
                        previous_stylized=outputs[-1] if position else None,
                    )  # fmt: skip
                    started = time.perf_counter()
                    result = method.stylize(task, on_step=lambda *_: None)
                    seconds.append(time.perf_counter() - started)
                    outputs.append(result.image)
                    records.append(result)
                return outputs, records, seconds

            # Cold frames cost a first frame's budget each: the baseline covers the first --none-frames.
            every = frames
            frames = frames[: a.none_frames]
            none = run(TemporalMode.NONE, a.iterations_next, 0.0, None)
            frames = every
            first = (none[0][0], none[1][0], none[2][0])
            runs["none"] = none
            for iterations_next in nexts:
                runs[f"flow next={iterations_next} w={a.temporal_weight:g}"] = run(TemporalMode.FLOW, iterations_next, a.temporal_weight, first)
            for weight in weights:
                if weight != a.temporal_weight:
                    runs[f"flow next={a.iterations_next} w={weight:g}"] = run(TemporalMode.FLOW, a.iterations_next, weight, first)
            base = warping_error(frames[: a.none_frames], none[0]).value
            grid: list[list[Tile]] = [[Tile(f, f"input {i}") for i, f in enumerate(frames[:5])]]
            for name, (outputs, records, seconds) in runs.items():
                n = a.none_frames
                error = warping_error(frames[:n], outputs[:n]).value  # the pairs none has too
                whole = warping_error(frames[: len(outputs)], outputs).value
                later = [r.outcome.terms["style"] for r in records[1:]]
                ratio = float(np.mean(later)) / records[0].outcome.terms["style"]
                mode, _, rest = name.partition(" ")
                nxt = rest.split(" ")[0].removeprefix("next=") if rest else "-"
                weight = rest.split(" ")[1].removeprefix("w=") if rest else "-"
                print(
                    f"| {content} / {style} | {mode} | {nxt} | {weight} | {error:.5f} ({whole:.5f} all) | {error / base:.2f}x | {ratio:.2f} | "
                    f"{np.mean([r.outcome.terms['content'] for r in records[1:]]):.3f} | {np.mean(seconds[1:]):.1f} |",
                    flush=True,
                )
                grid.append([Tile(o, f"{name} #{i}") for i, o in enumerate(outputs[:5])])
            lab.save_grid(f"warm_{content}_{style}", grid, "later frames: cold (none) against warm starts (flow)")


EXPERIMENTS = {
    "border": run_border,
    "balance": run_balance,
    "tv": run_tv,
    "scale": run_scale,
    "pooling": run_pooling,
    "budget": run_budget,
    "warm": run_warm,
}


def main() -> None:
    defaults, temporal = OptimizeConfig(), TemporalConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--network", default="vgg16", choices=sorted(WEIGHTS), help="the shared real weights of this network")
    parser.add_argument("--weights", type=Path, default=None, help="other weights of --network")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--sizes", type=lambda t: [int(v) for v in t.split(",")], default=[128, 256])
    parser.add_argument("--contents", type=lambda t: t.split(","), default=["marple8", "rotate235"])
    parser.add_argument("--styles", type=lambda t: t.split(","), default=list(STYLES))
    parser.add_argument("--values", type=lambda t: t.split(","), default=None, help="the values the experiment sweeps")
    parser.add_argument("--temporal-weights", type=lambda t: t.split(","), default=["100", "500", "2000"])
    parser.add_argument("--steps", type=int, default=600, help="budget: the long run's steps")
    parser.add_argument("--none-frames", type=int, default=3, help="warm: cold frames stylized for the none baseline")
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--iterations-next", type=int, default=defaults.iterations_next)
    parser.add_argument("--content-weight", type=float, default=defaults.content_weight)
    parser.add_argument("--style-weight", type=float, default=defaults.style_weight)
    parser.add_argument("--tv-weight", type=float, default=defaults.tv_weight)
    parser.add_argument("--tolerance", type=float, default=defaults.tolerance)
    parser.add_argument("--temporal-weight", type=float, default=temporal.weight)
    parser.add_argument("--padding", default=ModelConfig().padding.value, choices=[p.value for p in Padding])
    parser.add_argument("--pooling", default=ModelConfig().pooling.value, choices=[p.value for p in Pooling])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--looks", type=Path, default=None, help="folder for the PNG grids (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "vidstyle-defaults-cache",
                        help="finished frames by configuration, reused across experiments (delete it after changing the code)")
    args = parser.parse_args()
    args.weights = args.weights or WEIGHTS[args.network]
    if not args.weights.is_file():
        sys.exit(f"{args.weights} not found: these measurements need the shared ImageNet weights (see ../shared/data/README.md).")
    args.looks = args.looks or Path(tempfile.mkdtemp(prefix="vidstyle-looks-"))
    torch.set_num_threads(args.threads)
    print(f"{args.experiment}: {args.network.upper()} ({args.weights.name}), {torch.get_num_threads()} thread(s), padding {args.padding}, "
          f"content/style/tv {args.content_weight:g}/{args.style_weight:g}/{args.tv_weight:g}, "
          f"iterations {args.iterations}, tolerance {args.tolerance:g}", flush=True)  # fmt: skip
    lab = Lab(args)
    EXPERIMENTS[args.experiment](lab)
    if args.json:
        records = [{**asdict(o), "extra": {k: v for k, v in o.extra.items() if k != "history"}} for o in lab.outcomes]
        args.json.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
