"""Settings as a library caller meets them: one default per setting, the same refusals as the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidstyle.config import ModelConfig, ScaleConfig, Settings
from vidstyle.errors import UsageError


@pytest.mark.parametrize("scale", [ScaleConfig(workers=2), ScaleConfig(ray_address="auto")])
def test_batch_chains_on_workers_is_refused_by_the_library(scale: ScaleConfig) -> None:
    """Not only the CLI: a library caller asking for both gets the CLI's one-line reason."""
    with pytest.raises(UsageError, match="--batch-chains batches chains in one process.*drop one of them"):
        Settings(model=ModelConfig(batch_chains=2), scale=scale)
    assert Settings(model=ModelConfig(batch_chains=2)).model.batch_chains == 2
    assert Settings(scale=scale).scale.parallel
