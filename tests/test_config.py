"""Settings as a library caller meets them: one default per setting, the same refusals as the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from vidstyle.cli import SETTINGS_WITHOUT_OPTION, app, settings_from_options
from vidstyle.config import (
    CoarseToFine,
    DeviceChoice,
    MethodConfig,
    MethodKind,
    ModelConfig,
    OptimizeConfig,
    Precision,
    RunConfig,
    ScaleConfig,
    Settings,
    StyleConfig,
    setting_fields,
    settings_from_json,
    settings_to_json,
)
from vidstyle.errors import UsageError
from vidstyle.pipeline.fingerprint import differences


@pytest.mark.parametrize("scale", [ScaleConfig(workers=2), ScaleConfig(ray_address="auto")])
def test_batch_chains_on_workers_is_refused_by_the_library(scale: ScaleConfig) -> None:
    """Not only the CLI: a library caller asking for both gets the CLI's one-line reason."""
    with pytest.raises(UsageError, match="--batch-chains batches chains in one process.*drop one of them"):
        Settings(model=ModelConfig(batch_chains=2), scale=scale)
    assert Settings(model=ModelConfig(batch_chains=2)).model.batch_chains == 2
    assert Settings(scale=scale).scale.parallel
    # Fast mode's workers batch their chains (pipeline/ray_executor.py).
    fast = Settings(model=ModelConfig(batch_chains=2), scale=scale, method=MethodConfig(kind=MethodKind.FAST))
    assert fast.model.batch_chains == 2 and fast.scale.parallel


def test_every_setting_has_a_stylize_option_with_its_default_or_a_stated_reason() -> None:
    """One default per setting: a new field without an option, or an option whose default is typed in differently, fails here."""
    command = typer.main.get_command(app).commands["stylize"]  # type: ignore[attr-defined]
    options = {name for param in command.params for name in [*param.opts, *param.secondary_opts]}
    without = {path for path, field in setting_fields() if field.metadata["option"] is None}
    assert without == set(SETTINGS_WITHOUT_OPTION), "list a field without an option in cli.SETTINGS_WITHOUT_OPTION, with the reason"
    for path, field in setting_fields():
        if field.metadata["option"] is not None:
            assert field.metadata["option"] in options, f"{path}: stylize has no {field.metadata['option']}"
    # The options as the command line leaves them (nothing but the required ones given) are the settings' defaults.
    context = command.make_context("stylize", ["clip.mp4", "-s", "style.jpg", "-o", "out.mp4"])
    given = {name: value for name, value in context.params.items() if name not in ("ctx",)}
    assert settings_from_options(given) == Settings(style=StyleConfig(images=(Path("style.jpg"),)))


def test_a_resume_may_change_only_the_settings_that_change_no_pixel() -> None:
    """What config.py marks pixels=False (or hashed) is what a resume lets differ; the rest stops it."""
    base = Settings()
    fingerprint = {"settings": settings_to_json(base)}

    def changed(**sections: object) -> list[str]:
        return differences(fingerprint, {"settings": settings_to_json(base.replace(**sections))})

    assert changed(model=ModelConfig(compile=True, batch_chains=4, device=DeviceChoice.CPU)) == []
    assert changed(scale=ScaleConfig(workers=3), run=RunConfig(keep_work=True, work_dir=Path("/elsewhere"))) == []
    assert changed(optimize=OptimizeConfig(tv_weight=2.0)) == ["optimize.tv_weight: 1.0 -> 2.0"]
    assert changed(model=ModelConfig(precision=Precision.BF16)) == ["model.precision: 'auto' -> 'bf16'"]
    # The coarse-to-fine schedule changes cold frames: a run begun with another never takes them in.
    assert changed(optimize=OptimizeConfig(coarse_to_fine=CoarseToFine.ON)) == ["optimize.coarse_to_fine: 'auto' -> 'on'"]
    # A manifest from before the schedule stored a bool: false made the frames "off" makes, true the old 1/4-1/2 stages.
    old = {"settings": settings_to_json(base)}
    old["settings"]["optimize"]["coarse_to_fine"] = False
    assert settings_from_json(old["settings"]).optimize.coarse_to_fine is CoarseToFine.OFF
    assert differences(old, {"settings": settings_to_json(base.replace(optimize=OptimizeConfig(coarse_to_fine=CoarseToFine.OFF)))}) == []
    old["settings"]["optimize"]["coarse_to_fine"] = True
    assert differences(old, {"settings": settings_to_json(base.replace(optimize=OptimizeConfig(coarse_to_fine=CoarseToFine.ON)))}) != []
    assert changed(method=MethodConfig(kind=MethodKind.FAST, save_model=Path("/net.pt"))) != []
