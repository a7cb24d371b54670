"""What a notebook shows: short reprs, and the CLI's tables when printed."""
from __future__ import annotations

import torch

import converter
from helpers import fixture


def test_reprs_are_one_short_line_and_str_is_the_table():
    source = fixture("keras3/mlp.keras")
    report = converter.inspect(source)
    verification = converter.verify(source, samples=2)
    module = converter.to_torch(source, input_layout="keras")
    plan = converter.load_into(module, source, dry_run=True)
    conversion = report.conversion
    for value in (report, verification, plan, conversion):
        text = repr(value)
        assert "\n" not in text and len(text) < 300, text
    assert str(report) == report.to_text()
    assert str(verification) == verification.to_text() and "result: ok" in str(verification)
    assert "->" in str(plan) or "torch" in str(plan)
    assert isinstance(module, torch.nn.Module)
