"""`python -m converter.layers` prints the README's supported-layers table."""
from . import supported_layers_markdown

print(supported_layers_markdown())
