"""The README's supported-layers table is the registry's."""
from __future__ import annotations

import re

from converter.kinds import operations_markdown, supported_layers_markdown, weightless_kinds_markdown
from helpers import ROOT

REGENERATE = "regenerate it with: python -m converter.kinds --write README.md"


def test_supported_layers_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- supported-layers:start -->\n(.*?)\n<!-- supported-layers:end -->", readme, re.S)
    assert table is not None
    assert table.group(1) == supported_layers_markdown(), REGENERATE


def test_weightless_kinds_list_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    listed = re.search(r"<!-- weightless-kinds:start -->\n(.*?)\n<!-- weightless-kinds:end -->", readme, re.S)
    assert listed is not None
    assert listed.group(1) == weightless_kinds_markdown(), REGENERATE


def test_operations_list_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    listed = re.search(r"<!-- operations:start -->\n(.*?)\n<!-- operations:end -->", readme, re.S)
    assert listed is not None
    assert listed.group(1) == operations_markdown(), REGENERATE
