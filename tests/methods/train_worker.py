"""A fast-method training in its own process that SIGKILLs itself during a chosen step (for the resume test).

    python tests/methods/train_worker.py SPEC.json

SPEC keys: weights (random VGG19 file), style_dir (where the style texture is written),
checkpoints (the checkpoint folder), kill_at (the step during which to die: after its
TrainingStep event, before the step's checkpoint could be written).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from tests.methods.clipdata import TINY, make_clip, make_core  # noqa: E402
from vidstyle.methods.feedforward import TrainingStep, train_network  # noqa: E402


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(1)  # as the tests (conftest): the same arithmetic, bit for bit
    extractor, targets, model = make_core(Path(spec["weights"]), Path(spec["style_dir"]))

    def on_event(event: object) -> None:
        if isinstance(event, TrainingStep) and event.step == spec["kill_at"]:
            os.kill(os.getpid(), signal.SIGKILL)

    train_network(
        make_clip(),
        features=extractor,
        style=targets,
        content_layers=model.content_layers,
        config=TINY,
        checkpoint_dir=Path(spec["checkpoints"]),
        on_event=on_event,
    )


if __name__ == "__main__":
    main()
