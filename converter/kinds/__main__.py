"""`python -m converter.kinds` prints the README's tables of kinds; `--write README.md` updates them in place;
`--index` rewrites the registry's index of which module registers which kind (index.py)."""
import re
import sys
from pathlib import Path

from . import operations_markdown, supported_layers_markdown, weightless_kinds_markdown
from .registry import index_source

SECTIONS = {"supported-layers": supported_layers_markdown, "weightless-kinds": weightless_kinds_markdown,
            "operations": operations_markdown}

if sys.argv[1:] == ["--index"]:
    Path(__file__).with_name("index.py").write_text(index_source())
elif len(sys.argv) == 3 and sys.argv[1] == "--write":
    readme = Path(sys.argv[2])
    text = readme.read_text()
    for marker, generate in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(\n<!-- {marker}:end -->)", re.S)
        if not pattern.search(text):
            sys.exit(f"{readme}: no <!-- {marker}:start/end --> markers")
        text = pattern.sub(lambda match: match.group(1) + generate() + match.group(2), text)
    readme.write_text(text)
else:
    print("\n\n".join(generate() for generate in SECTIONS.values()))
