"""`python -m converter.kinds` prints the README's tables of kinds."""
from . import supported_layers_markdown, weightless_kinds_markdown

print(supported_layers_markdown())
print()
print(weightless_kinds_markdown())
