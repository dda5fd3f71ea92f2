"""The fast method: training on the clip, checkpoints and resume, apply, save and load."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidstyle.config import (
    FULL_TRAIN_STEPS,
    DeviceChoice,
    MethodConfig,
    MethodKind,
    ModelConfig,
    OptimizeConfig,
    Precision,
    Settings,
    json_adapter,
)
from vidstyle.errors import ModelError, NumericalError, UsageError
from vidstyle.methods.fastnet import Architecture, Downsample, NetSpec, Norm, Upsample, build_network, phase_spread, run_network
from vidstyle.model.measure import grid
from vidstyle.model.objective import Content
from vidstyle.pipeline.interrupt import StopFlag
from vidstyle.methods.feedforward import (
    CHECKPOINT_NAME,
    CheckpointSaved,
    FastConfig,
    TrainingClip,
    LossWeights,
    TrainingFinished,
    TrainingObjective,
    TrainingStarted,
    TrainingStep,
    TrainingStopped,
    apply_network,
    full_steps_in,
    is_full_step,
    keyframe_positions,
    learning_rate_at,
    plan_keyframes,
    load_model,
    new_network,
    save_model,
    train_network,
)
from vidstyle.pipeline.fast import fast_config
from vidstyle.video.pixels import bgr_to_tensor
from tests.methods.clipdata import HEIGHT, TINY, WIDTH, fake_stylization, make_clip, make_core, panning_frames

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def core(random_weights: Path, tmp_path_factory: pytest.TempPathFactory):
    # Module fixtures run before conftest's one-thread fixture: build the style
    # targets on one thread, as the worker process does, so both get the same
    # bits (a float sum over two threads is added up in another order).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return make_core(random_weights, tmp_path_factory.mktemp("style"))
    finally:
        torch.set_num_threads(before)


def train(core, clip: TrainingClip, config=TINY, **kwargs):
    extractor, targets, model = core
    return train_network(
        clip, features=extractor, style=targets, content_layers=model.content_layers, config=config, **kwargs
    )


def weights_of(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    wa, wb = weights_of(a), weights_of(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


# ------------------------------------------------------------------ training


def test_training_loss_falls_and_reports_progress(core) -> None:
    events: list[object] = []
    config = replace(TINY, train_steps=60, tolerance=0.0)
    result = train(core, make_clip(), config, on_event=events.append)
    steps = [e for e in events if isinstance(e, TrainingStep)]
    assert [e.step for e in steps] == list(range(1, 61))
    assert isinstance(events[0], TrainingStarted) and events[0].resumed_at == 0
    assert isinstance(events[-1], TrainingFinished) and events[-1].steps == 60
    assert all(e.eta_seconds is not None and e.eta_seconds >= 0 for e in steps)
    assert steps[-1].eta_seconds == 0
    assert set(steps[0].terms) == {"l1", "perceptual", "style", "content", "tv", "temporal"}
    # The total and the distillation error both fall well below where they started.
    assert np.mean(result.history[-10:]) < 0.5 * np.mean(result.history[:10])
    l1 = [e.terms["l1"] for e in steps]
    assert np.mean(l1[-10:]) < 0.8 * np.mean(l1[:10])


def test_training_terms_are_the_optimizers_per_crop(core) -> None:
    """Fast mode's content term is the optimizer's, normalised per crop: a crop's loss does not depend on the others.

    (Before the one objective it was normalised over the whole batch of crops.)
    The total is the weighted sum of the terms' means over their crops.
    """
    extractor, targets, model = core
    weights = LossWeights(l1=0.0, perceptual=0.0, style=3.0, content=2.0, tv=0.5, temporal=0.0)
    objective = TrainingObjective(extractor, targets, content_layers=model.content_layers, weights=weights)
    net = new_network(TINY.net, seed=0)
    frames = panning_frames(2)
    # Two crops of very different contrast: batch-wide normalisation would weigh them unequally.
    crops = torch.stack([torch.from_numpy(f[:24, :24]).permute(2, 0, 1).float() / 255 for f in frames])
    crops[1] = 0.5 + 0.1 * (crops[1] - 0.5)

    def terms_of(framed: torch.Tensor) -> dict[str, float]:
        batch = SimpleNamespace(keyed=None, framed=framed, temporal=None)
        with torch.no_grad():
            return {k: float(v) for k, v in objective(net, batch).items()}  # type: ignore[arg-type]

    both, first, second = terms_of(crops), terms_of(crops[:1]), terms_of(crops[1:])
    for name in ("content", "style", "tv"):
        assert both[name] == pytest.approx((first[name] + second[name]) / 2, rel=1e-5), name
    assert both["total"] == pytest.approx(2.0 * both["content"] + 3.0 * both["style"] + 0.5 * both["tv"], rel=1e-6)
    # The content term is the optimizer's Content term of each crop against its input's features.
    layers = tuple(model.content_layers)
    with torch.no_grad():
        out = run_network(net, crops[:1])
        expected = Content(extractor(crops[:1], layers), weight=1.0).value(out, extractor(out, layers))
    assert first["content"] == pytest.approx(float(expected), rel=1e-5)


def test_cheap_steps_skip_the_feature_network(core) -> None:
    """Distillation-heavy training: only steps 1, 1 + k, 1 + 2k ... (full_every k) run the feature network; the
    others are the network's own pass (L1 against the keyframes, tv, temporal), and the schedule is what the
    budget prices (full_steps_in)."""
    extractor, targets, model = core
    passes: list[int] = []

    def counted(image: torch.Tensor, layers=None):  # type: ignore[no-untyped-def]
        passes.append(image.shape[0])
        return extractor(image, layers)

    events: list[object] = []
    config = replace(TINY, train_steps=7, full_every=3, window=100, tolerance=0.0)
    train_network(
        make_clip(), features=counted, style=targets, content_layers=model.content_layers, config=config, on_event=events.append
    )
    terms = [set(e.terms) for e in events if isinstance(e, TrainingStep)]
    full, cheap = {"l1", "perceptual", "style", "content", "tv", "temporal"}, {"l1", "tv", "temporal"}
    assert terms == [full, cheap, cheap, full, cheap, cheap, full]
    assert len(passes) == 2 * 3 == 2 * full_steps_in(7, config)  # targets and outputs, on full steps only
    assert [is_full_step(step, config) for step in range(1, 8)] == [t == full for t in terms]


def test_training_is_deterministic_for_a_seed_and_differs_across_seeds(core) -> None:
    clip = make_clip()
    first, second = train(core, clip), train(core, clip)
    assert_same_weights(first.net, second.net)
    assert first.history == second.history
    other = train(core, clip, replace(TINY, seed=1))
    assert not torch.equal(weights_of(other.net)["body.0.1.weight"], weights_of(first.net)["body.0.1.weight"])


def test_a_nan_batch_is_skipped_and_a_diverged_network_gives_up(core) -> None:
    """One NaN batch must not reach the weights (nor, through a checkpoint, every resume); NaN that persists is an error."""
    clip = make_clip()
    config = replace(TINY, train_steps=8)
    events: list[object] = []
    result = train(core, clip, config, on_event=events.append, poisoned=lambda step, attempt: step == 3 and attempt == 0)
    assert result.steps == 8 and [e.step for e in events if isinstance(e, TrainingStep)] == list(range(1, 9))
    assert all(np.isfinite(result.history)) and all(torch.isfinite(w).all() for w in weights_of(result.net).values())
    frames = list(apply_network(result.net, clip.frames[:2]))
    assert all(f.dtype == np.uint8 and f.std() > 0 for f in frames)
    with pytest.raises(NumericalError, match=r"NaN or infinite 10 times in a row at step 3"):
        train(core, clip, config, poisoned=lambda step, attempt: step >= 3)


def test_bf16_losses_train_deterministically_and_close_to_fp32(core) -> None:
    """The loss network in bf16 autocast (fast_config's choice on bf16 hardware): same weights run to run, losses near fp32's."""
    clip = make_clip()
    config = replace(TINY, train_steps=30, tolerance=0.0)
    first, second = train(core, clip, replace(config, bf16_losses=True)), train(core, clip, replace(config, bf16_losses=True))
    assert_same_weights(first.net, second.net)
    fp32 = train(core, clip, config)
    assert np.mean(first.history[-5:]) < 0.6 * np.mean(first.history[:5])
    assert abs(np.mean(first.history[-5:]) - np.mean(fp32.history[-5:])) < 0.1 * np.mean(fp32.history[-5:])


def test_early_stop_ends_a_stalled_training(core) -> None:
    # A learning rate this small leaves the loss flat: the validation test must stop it.
    config = replace(TINY, train_steps=200, learning_rate=1e-9, window=5, patience=3, tolerance=0.01)
    events: list[object] = []
    result = train(core, make_clip(), config, on_event=events.append)
    assert result.stopped_early
    # Validations at steps 5, 10, 15, 20: the last three are compared with the first.
    assert result.steps == 20 and len(result.validation) == 4
    assert [e.step for e in events if isinstance(e, TrainingStep) and e.validation is not None] == [5, 10, 15, 20]
    assert events[-1] == TrainingFinished(steps=20, stopped_early=True, seconds=events[-1].seconds, loss=result.validation[-1])


def test_the_learning_rate_decays_along_the_budget() -> None:
    config = replace(TINY, train_steps=100, learning_rate=1e-3, final_lr=0.1)
    rates = [learning_rate_at(step, config) for step in range(0, 101, 25)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_the_gradient_clip_is_checked_lowers_the_loss_and_keys_the_checkpoint(core, tmp_path: Path) -> None:
    """FastConfig.grad_clip: a norm >= 0 (0 off); a clipped training still learns, a clip above every norm changes
    nothing, and a checkpoint trained under another clip is not resumed."""
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError, match="gradient clip"):
            FastConfig(grad_clip=bad)
    clip = make_clip()
    config = replace(TINY, train_steps=60, tolerance=0.0, learning_rate=3e-3, grad_clip=0.0)
    clipped = train(core, clip, replace(config, grad_clip=0.5))
    assert np.mean(clipped.history[-10:]) < 0.5 * np.mean(clipped.history[:10])
    plain, loose = train(core, clip, config), train(core, clip, replace(config, grad_clip=1e12))
    assert_same_weights(plain.net, loose.net)
    assert any(not torch.equal(a, b) for a, b in zip(weights_of(plain.net).values(), weights_of(clipped.net).values()))
    train(core, clip, replace(TINY, grad_clip=0.0), checkpoint_dir=tmp_path)
    events: list[object] = []
    train(core, clip, replace(TINY, grad_clip=1.0), checkpoint_dir=tmp_path, on_event=events.append)
    assert events[0].resumed_at == 0


def test_checkpoints_are_written_every_n_steps(core, tmp_path: Path) -> None:
    events: list[object] = []
    train(core, make_clip(), checkpoint_dir=tmp_path, on_event=events.append)
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [4, 8, 12]
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_stop_then_resume_gives_the_same_weights(core, tmp_path: Path) -> None:
    clip = make_clip()
    reference = train(core, clip)
    seen = []
    stop = StopFlag()  # the run's one stop token, requested here as Ctrl-C would after step 6

    def count(event) -> None:
        if isinstance(event, TrainingStep):
            seen.append(event.step)
            if len(seen) >= 6:
                stop.request()

    with pytest.raises(TrainingStopped) as stopped:
        train(core, clip, checkpoint_dir=tmp_path, on_event=count, stop=stop)
    assert stopped.value.step == 6 and stopped.value.checkpoint == tmp_path / CHECKPOINT_NAME
    events: list[object] = []
    resumed = train(core, clip, checkpoint_dir=tmp_path, on_event=events.append)
    assert events[0] == TrainingStarted(budget=12, resumed_at=6, parameters=events[0].parameters)
    assert [e.step for e in events if isinstance(e, TrainingStep)] == list(range(7, 13))
    assert_same_weights(reference.net, resumed.net)
    assert resumed.history == reference.history
    assert resumed.validation == reference.validation and len(reference.validation) == 3


def test_a_crash_between_checkpoints_resumes_from_the_last_one(core, tmp_path: Path) -> None:
    clip = make_clip()
    reference = train(core, clip)

    def crash(event) -> None:
        if isinstance(event, TrainingStep) and event.step == 7:
            raise RuntimeError("simulated crash")  # nothing is saved on the way out

    with pytest.raises(RuntimeError):
        train(core, clip, checkpoint_dir=tmp_path, on_event=crash)
    events: list[object] = []
    resumed = train(core, clip, checkpoint_dir=tmp_path, on_event=events.append)
    assert events[0].resumed_at == 4  # steps 5-7 are redone
    assert_same_weights(reference.net, resumed.net)


def test_a_killed_training_process_resumes_to_the_same_weights(core, random_weights: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of step 7 of a training in another process; resume here."""
    clip = make_clip()
    reference = train(core, clip)
    spec = {"weights": str(random_weights), "style_dir": str(tmp_path), "checkpoints": str(tmp_path / "ck"), "kill_at": 7}
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    worker = Path(__file__).with_name("train_worker.py")
    done = subprocess.run([sys.executable, str(worker), str(spec_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr
    events: list[object] = []
    resumed = train(core, clip, checkpoint_dir=tmp_path / "ck", on_event=events.append)
    assert events[0].resumed_at == 4
    assert_same_weights(reference.net, resumed.net)


def test_a_checkpoint_of_another_clip_or_setting_is_not_resumed(core, tmp_path: Path) -> None:
    train(core, make_clip(), checkpoint_dir=tmp_path)
    events: list[object] = []
    other = TrainingClip(frames=panning_frames(6), keyframes={2: fake_stylization(panning_frames(6)[2])})
    train(core, other, checkpoint_dir=tmp_path, on_event=events.append)
    assert events[0].resumed_at == 0
    events.clear()
    train(core, make_clip(), replace(TINY, learning_rate=2e-3), checkpoint_dir=tmp_path, on_event=events.append)
    assert events[0].resumed_at == 0
    # The checkpoint interval changes nothing the weights depend on: that checkpoint is kept.
    train(core, make_clip(), replace(TINY, learning_rate=2e-3, train_steps=20), checkpoint_dir=tmp_path)
    events.clear()
    train(core, make_clip(), replace(TINY, learning_rate=2e-3, train_steps=20, checkpoint_every=5), checkpoint_dir=tmp_path, on_event=events.append)
    assert events[0].resumed_at == 20


def test_a_torn_checkpoint_is_ignored(core, tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 not really a zip")
    events: list[object] = []
    result = train(core, make_clip(), checkpoint_dir=tmp_path, on_event=events.append)
    assert events[0].resumed_at == 0 and result.steps == 12


def test_luminance_only_style_targets_are_refused_until_supported(core) -> None:
    extractor, targets, model = core
    with pytest.raises(UsageError, match="--preserve-colors"):
        train((extractor, replace(targets, luminance_only=True), model), make_clip())


def test_temporal_pairs_never_span_a_break() -> None:
    frames = panning_frames(6)
    clip = TrainingClip(frames=frames, keyframes={0: frames[0]}, breaks=frozenset({2}))
    assert clip.pairs() == [0, 1, 3, 4]
    assert clip.others() == [1, 2, 3, 4, 5]


def test_bad_training_data_is_refused() -> None:
    frames = panning_frames(4)
    with pytest.raises(UsageError, match="keyframe"):
        TrainingClip(frames=frames, keyframes={})
    with pytest.raises(UsageError, match="outside"):
        TrainingClip(frames=frames, keyframes={9: frames[0]})
    with pytest.raises(UsageError, match="BGR uint8"):
        TrainingClip(frames=frames[:3] + [frames[3][:10]], keyframes={0: frames[0]})
    with pytest.raises(UsageError, match="Keyframe 1"):
        TrainingClip(frames=frames, keyframes={1: frames[1].astype(np.float32)})


def test_keyframes_are_spread_over_the_shot() -> None:
    assert keyframe_positions(1, 3) == (0,)
    assert keyframe_positions(100, 1) == (50,)
    assert keyframe_positions(100, 4) == (12, 37, 62, 87)
    assert keyframe_positions(3, 10) == (0, 1, 2)
    assert keyframe_positions(90, 0) == (45,)  # at least one per shot
    with pytest.raises(UsageError):
        keyframe_positions(0, 1)
    # Shots of 90, 120, 30 and 80 frames, one keyframe per 100 frames: one each, in the middle.
    assert plan_keyframes([(0, 90), (90, 210), (210, 240), (240, 320)], every=100) == (45, 150, 225, 280)
    assert plan_keyframes([(0, 1000)], every=250) == (125, 375, 625, 875)


# ------------------------------------------------------------------ apply


@pytest.mark.parametrize(
    "spec", [NetSpec(width=4, blocks=1), NetSpec(Architecture.UNET, 4, 1, Norm.INSTANCE), NetSpec(width=4, blocks=1, upsample=Upsample.SHUFFLE_BLUR)]
)
def test_apply_gives_one_frame_of_the_same_size_per_input(spec: NetSpec) -> None:
    net = new_network(spec, seed=0)
    rng = np.random.default_rng(0)
    sizes = [(32, 40)] * 5 + [(29, 37), (29, 37), (7, 5), (3, 2), (32, 40)]  # (h, w): odd, tiny, back again
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    out = list(apply_network(net, iter(frames), batch_size=3))
    assert len(out) == len(frames)
    for frame, result in zip(frames, out):
        assert result.shape == frame.shape and result.dtype == np.uint8
    # Batched or one at a time, the frames are the same (no frame sees another);
    # instance norm sums in another order in a batch, which may move a level.
    single = list(apply_network(net, frames, batch_size=1))
    for a, b in zip(out, single):
        assert np.abs(a.astype(int) - b).max() <= 1


def test_apply_streams_with_bounded_memory() -> None:
    net = new_network(NetSpec(width=4, blocks=1), seed=0)
    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            yield np.full((16, 16, 3), i % 256, np.uint8)

    taken = list(itertools.islice(apply_network(net, endless(), batch_size=4), 6))
    assert len(taken) == 6
    assert len(pulled) == 8  # two batches of 4, never the whole input


def test_apply_refuses_what_is_not_a_bgr_frame() -> None:
    net = new_network(NetSpec(width=4, blocks=1), seed=0)
    with pytest.raises(UsageError, match="BGR uint8"):
        list(apply_network(net, [np.zeros((8, 8), np.uint8)]))


# ------------------------------------------------------------------ save / load


def test_a_saved_network_reloads_and_gives_identical_frames(core, tmp_path: Path) -> None:
    # The network trains channels_last and a loaded one starts NCHW: the trained
    # network must be handed back in the layout it is applied in, frame for frame.
    result = train(core, make_clip())
    path = tmp_path / "look.pt"
    settings = {"style": ["starry.jpg"], "steps": 12}
    save_model(path, result.net, settings)
    loaded = load_model(path)
    assert loaded.spec == TINY.net
    assert loaded.settings == settings
    frames = panning_frames(5) + [panning_frames(1, width=41, height=31)[0]]
    before = list(apply_network(result.net, frames))
    after = list(apply_network(loaded.net, frames))
    for a, b in zip(before, after):
        assert np.array_equal(a, b)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_only_networks_that_carry_their_spec_can_be_saved(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="build_network"):
        save_model(tmp_path / "m.pt", torch.nn.Conv2d(3, 3, 3), {})
    assert not (tmp_path / "m.pt").exists()


def test_every_architecture_round_trips(tmp_path: Path) -> None:
    for spec in (NetSpec(Architecture.JOHNSON, 4, 2, Norm.INSTANCE), NetSpec(Architecture.UNET, 4, 0, Norm.NONE)):
        net = new_network(spec, seed=3)
        save_model(tmp_path / "m.pt", net, {})
        loaded = load_model(tmp_path / "m.pt")
        assert loaded.spec == spec
        assert_same_weights(net, loaded.net)


# The layout of the one design fast mode had before NetSpec's upsample,
# downsample and residual fields (nearest x2, stride-2 convolutions, no global
# residual), at width 4 with one block: a model saved then has these tensors.
_OLD_LAYOUT = [
    "body.0.1.weight", "body.0.1.bias", "body.1.1.weight", "body.1.1.bias", "body.2.1.weight", "body.2.1.bias",
    "body.3.body.0.1.weight", "body.3.body.0.1.bias", "body.3.body.1.1.weight", "body.3.body.1.1.bias",
    "body.4.1.1.weight", "body.4.1.1.bias", "body.5.1.1.weight", "body.5.1.1.bias", "body.6.1.weight", "body.6.1.bias",
]  # fmt: skip


def test_a_model_saved_before_the_design_fields_loads_and_applies_as_before(tmp_path: Path) -> None:
    old = NetSpec(width=4, blocks=1, upsample=Upsample.NEAREST, downsample=Downsample.STRIDE, residual=False)
    net = new_network(old, seed=5)
    assert list(net.state_dict()) == _OLD_LAYOUT
    save_model(tmp_path / "new.pt", net, {})
    payload = torch.load(tmp_path / "new.pt", weights_only=True)
    payload["spec"] = json.dumps({"architecture": "johnson", "width": 4, "blocks": 1, "norm": "none"})  # as saved then
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    assert loaded.spec == old
    frames = panning_frames(3) + [panning_frames(1, width=41, height=31)[0]]
    for a, b in zip(apply_network(net, frames), apply_network(loaded.net, frames)):
        assert np.array_equal(a, b)


def test_the_design_fields_are_checked_and_round_trip(tmp_path: Path) -> None:
    for bad in (dict(upsample="cubic"), dict(downsample="max"), dict(residual=1)):
        with pytest.raises(UsageError, match="fast network"):
            NetSpec(**bad)  # type: ignore[arg-type]
    for spec in (NetSpec(width=4, blocks=1, upsample=Upsample.BILINEAR, downsample=Downsample.POOL, residual=True),
                 NetSpec(Architecture.UNET, 4, 1, Norm.NONE, Upsample.BILINEAR, Downsample.POOL, True),
                 NetSpec(width=4, blocks=1, upsample=Upsample.SHUFFLE),
                 NetSpec(Architecture.UNET, 4, 1, Norm.INSTANCE, Upsample.SHUFFLE_BLUR)):  # fmt: skip
        net = new_network(spec, seed=2)
        save_model(tmp_path / "m.pt", net, {})
        loaded = load_model(tmp_path / "m.pt")
        assert loaded.spec == spec
        frames = panning_frames(2)
        for a, b in zip(apply_network(net, frames), apply_network(loaded.net, frames)):
            assert np.array_equal(a, b)


def _stretched_outputs(net: torch.nn.Module, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The network's raw output over its whole range: an untrained network's is nearly flat, which would hide a lattice in rounding."""
    with torch.no_grad():
        out = net(torch.cat([bgr_to_tensor(f) for f in frames]))
    out = (out - out.amin()) / (out.amax() - out.amin()) * 255
    return [o.permute(1, 2, 0).numpy().astype(np.uint8) for o in out]


def _unequal_phases(net: torch.nn.Module) -> None:
    """What training may do to a sub-pixel upsampler: its four phases' kernels made to differ."""
    for module in net.modules():
        layers = list(module.children()) if isinstance(module, torch.nn.Sequential) else []
        for conv, shuffle in zip(layers, layers[1:]):
            if isinstance(shuffle, torch.nn.PixelShuffle):
                with torch.no_grad():
                    conv.weight.mul_(torch.tensor([1.0, 0.8, 1.2, 0.9]).repeat(conv.out_channels // 4)[:, None, None, None])


def test_a_sub_pixel_upsampler_starts_with_four_equal_phases_and_paints_no_grid() -> None:
    # ICNR: at its initial weights each shuffle layer is its low-resolution
    # convolution followed by nearest x2, so every 2x2 block is one value.
    frames = panning_frames(4, width=96, height=64)
    for architecture, seed in itertools.product(Architecture, (0, 1, 2)):
        net = new_network(NetSpec(architecture, 8, 1, upsample=Upsample.SHUFFLE), seed=seed)
        outputs: list[torch.Tensor] = []
        for module in net.modules():
            if isinstance(module, torch.nn.PixelShuffle):
                module.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        clean = grid(_stretched_outputs(net, frames))
        assert len(outputs) == 2
        for out in outputs:
            assert torch.equal(out[..., 0::2, 0::2], out[..., 1::2, 1::2])
            assert torch.equal(out[..., 0::2, 0::2], out[..., 0::2, 1::2])
            assert torch.equal(out[..., 0::2, 0::2], out[..., 1::2, 0::2])
        # No lattice in the frames (measured 0.6-1.9; the inputs 1.2), where the
        # same network with its phases a fifth apart paints one (9.7-13,000).
        assert clean < 2.5, (architecture, seed, clean)
        _unequal_phases(net)
        assert grid(_stretched_outputs(net, frames)) > 5
        # The 2x2 box after the shuffle keeps even unequal phases from painting it (measured 0.9-1.9).
        blurred = new_network(NetSpec(architecture, 8, 1, upsample=Upsample.SHUFFLE_BLUR), seed=seed)
        _unequal_phases(blurred)
        assert grid(_stretched_outputs(blurred, frames)) < 2.5


def test_the_phase_spread_is_zero_at_icnr_and_grows_as_the_phases_part() -> None:
    nearest = new_network(NetSpec(width=4, blocks=1), seed=0)
    assert float(phase_spread(nearest)) == 0.0  # nothing to hold: no shuffle convolution
    shuffle = new_network(NetSpec(width=4, blocks=1, upsample=Upsample.SHUFFLE), seed=0)
    assert float(phase_spread(shuffle).detach()) == 0.0
    _unequal_phases(shuffle)
    spread = phase_spread(shuffle)
    assert float(spread.detach()) > 0
    # The spread is differentiable: it is a training term.
    spread.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in shuffle.parameters())


def test_training_holds_the_shuffle_phases_together_with_the_penalty(core) -> None:
    shuffle = replace(TINY, net=replace(TINY.net, upsample=Upsample.SHUFFLE), train_steps=20)
    clip = make_clip()
    free = train(core, clip, shuffle)
    # The tiny clip's loss is some 300 times the real one's (1e4 against 30): the penalty is weighed to match.
    held = train(core, clip, replace(shuffle, weights=replace(shuffle.weights, phases=1e5)))
    spreads = [float(phase_spread(result.net).detach()) for result in (free, held)]
    # Measured: 4.1e-3 free, 3.9e-5 held (the loss itself alike, 7,130-7,260).
    assert spreads[0] > 0
    assert spreads[1] < 0.1 * spreads[0], spreads


def test_a_residual_network_starts_from_the_photo() -> None:
    # With its last layer at zero, the global residual hands the input back: training starts from the photo, as the optimizer does.
    for architecture in Architecture:
        net = new_network(NetSpec(architecture, 4, 1, residual=True), seed=0)
        last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        frames = panning_frames(2)
        for frame, out in zip(frames, apply_network(net, frames)):
            assert np.array_equal(frame, out)


class _Payload:
    """Unpickling this object creates a file: proof that code from the model file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def test_a_model_file_with_a_pickled_payload_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    net = build_network(NetSpec(width=4, blocks=1))
    torch.save({"format": "vidstyle-fast-model", "version": 1, "state": net.state_dict(), "spec": _Payload(marker)}, path)
    with pytest.raises(ModelError) as refused:
        load_model(path)
    assert not marker.exists()
    message = str(refused.value)
    assert "\n" not in message and "--save-model" in message and str(path) in message
    # The payload is live: an unrestricted unpickler does run it.
    with path.open("rb") as handle:
        torch.load(handle, weights_only=False)
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_plain_pickle_is_refused_too(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelError):
        load_model(path)
    assert not marker.exists()


def test_files_that_are_not_models_are_refused_with_one_line(core, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ModelError, match="not a vidstyle fast-mode model"):
        load_model(tmp_path / "text.pt")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a vidstyle fast-mode model"):
        load_model(tmp_path / "other.pt")
    train(core, make_clip(), checkpoint_dir=tmp_path / "ck")
    with pytest.raises(ModelError, match="not a vidstyle fast-mode model"):
        load_model(tmp_path / "ck" / CHECKPOINT_NAME)
    net = build_network(NetSpec(width=4, blocks=1))
    save_model(tmp_path / "ok.pt", net, {})
    payload = torch.load(tmp_path / "ok.pt", weights_only=True)
    payload["spec"] = json.dumps(NetSpec(width=8, blocks=1).to_json())  # weights of another shape
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ModelError, match="damaged"):
        load_model(tmp_path / "mismatch.pt")
    payload["version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ModelError, match="version 99"):
        load_model(tmp_path / "future.pt")


def test_frames_are_the_working_size_convention() -> None:
    frames = panning_frames()
    assert frames[0].shape == (HEIGHT, WIDTH, 3)


def test_the_fast_settings_are_the_runs_under_the_same_names() -> None:
    """One source: FastConfig's keyframes default to MethodConfig's and its budget to the full one (a run's None
    means the budget follows the clip, pipeline/budget.py); fast_config copies a run's; JSON round-trips."""
    assert (FastConfig().keyframes, FastConfig().train_steps) == (MethodConfig().keyframes, FULL_TRAIN_STEPS)
    assert MethodConfig().train_steps is None
    run = Settings(
        method=MethodConfig(kind=MethodKind.FAST, keyframes=7, train_steps=9),
        optimize=OptimizeConfig(seed=3, tv_weight=2.0),
        model=ModelConfig(device=DeviceChoice.CPU, precision=Precision.FP32),
    )
    config = fast_config(run)
    assert (config.keyframes, config.train_steps, config.seed, config.weights.tv) == (7, 9, 3, 2.0)
    assert json_adapter(FastConfig).validate_python(config.to_json()) == config
    with pytest.raises(UsageError, match="--keyframes must be at least 1"):
        FastConfig(keyframes=0)
