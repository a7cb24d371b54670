"""`python -m converter ...`: the `weightport` command."""
import sys

from .cli import main

sys.exit(main())
