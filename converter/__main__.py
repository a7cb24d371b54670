"""`python -m converter ...`: the `weightport` command."""

from .cli import entry

entry()
