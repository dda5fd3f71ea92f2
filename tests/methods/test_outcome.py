"""The one per-frame record (methods/base.py FrameOutcome): what the log writes and reads back, what Ray pickles."""

from __future__ import annotations

import pickle

import pytest

from vidstyle.methods.base import FrameOutcome
from vidstyle.model.stylizer import LossBreakdown


def test_a_record_carries_every_term_of_the_objective_tv_included() -> None:
    final = LossBreakdown(content=0.25, style=0.5, tv=0.125, temporal=0.0, gamut=0.0625, total=2.0)
    record = FrameOutcome(position=3, steps=7, stopped_early=True, loss=final.total, terms=final.terms)
    assert dict(record.terms) == {"content": 0.25, "style": 0.5, "tv": 0.125, "temporal": 0.0, "gamut": 0.0625}
    assert (record.content_loss, record.style_loss, record.tv_loss) == (0.25, 0.5, 0.125)
    with pytest.raises(TypeError):
        record.terms["tv"] = 1.0  # type: ignore[index]


def test_the_log_row_reads_back_and_pickles() -> None:
    record = FrameOutcome(position=1, steps=2, stopped_early=False, loss=1.5, terms={"content": 1.0, "tv": 0.5}, redone="x")
    placed = record.placed(source_index=4, seconds=2.0, decode_seconds=0.25, cold=True)
    row = placed.to_json()
    assert row["content_loss"] == 1.0 and row["tv_loss"] == 0.5 and "terms" not in row
    assert FrameOutcome.from_json(row) == placed
    assert pickle.loads(pickle.dumps(placed)) == placed


def test_a_log_row_written_before_the_tv_term_reads_back() -> None:
    old = {
        "position": 0, "source_index": 0, "steps": 5, "stopped_early": False, "loss": 1.0, "content_loss": 0.5,
        "style_loss": 0.25, "temporal_loss": 0.0, "seconds": 1.0, "flow_seconds": 0.0, "optimize_seconds": 0.5,
        "decode_seconds": 0.0, "cold": True, "redone": "",
    }  # fmt: skip
    record = FrameOutcome.from_json(old)
    assert dict(record.terms) == {"content": 0.5, "style": 0.25, "temporal": 0.0} and record.cold and record.steps == 5
