"""A checkout's entry point: `python cli.py ...` runs the `weightport` command (converter/cli.py)."""
import sys

from converter.cli import main

if __name__ == "__main__":
    sys.exit(main())
