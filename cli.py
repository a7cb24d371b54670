"""A checkout's entry point: `python cli.py ...` runs the `weightport` command (converter/cli.py)."""

from converter.cli import entry

if __name__ == "__main__":
    entry()
