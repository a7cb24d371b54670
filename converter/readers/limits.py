"""Fixed bounds on what a file may make weightport allocate, and JSON read within them.

A model file comes from anyone: its declared sizes are checked against the bytes it really
stores, and what cannot be checked that way (JSON text, compressed members) is capped here.
The caps sit far above what Keras writes (the config of a 1,000-layer model is a few MB;
weights compress by about 1.1x) and far below what would exhaust memory.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ReadError

MAX_JSON_BYTES = 64 << 20  # a config, metadata or index: Keras writes a few MB at most
MAX_JSON_DEPTH = 200  # nesting of lists and dicts; Keras configs of nested models reach ~30
MAX_MODEL_DEPTH = 64  # models nested inside models
MAX_COMPRESSION_RATIO = 100  # uncompressed / compressed bytes of a zip member or HDF5 dataset...
COMPRESSION_SLACK = 1 << 20  # ...once it decompresses to more than this (small zero biases compress well)


#: what a Git LFS pointer file starts with: a clone made without `git lfs pull` holds these in place of weights
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def refuse_lfs_pointer(path: str, head: bytes) -> None:
    """ReadError when `head` (a file's first bytes, 200 are enough) is a Git LFS pointer's: say so, and what to do."""
    if head.startswith(LFS_POINTER):
        size = re.search(rb"\nsize (\d+)", head)
        stands_for = f" to a {int(size.group(1)) / 1e6:,.1f} MB file" if size else ""
        raise ReadError(f"{path}: a Git LFS pointer{stands_for}, not the file itself (a clone without its LFS "
                        "objects); fetch them (git lfs pull, or download the file from where it is hosted)")


def compression_ok(uncompressed: int, compressed: int) -> bool:
    """Whether `compressed` stored bytes may honestly stand for `uncompressed` ones."""
    return uncompressed <= COMPRESSION_SLACK or uncompressed <= MAX_COMPRESSION_RATIO * max(compressed, 1)


def parse_json(text: bytes | str, where: str) -> Any:
    """JSON text of at most MAX_JSON_BYTES and MAX_JSON_DEPTH levels, or ReadError naming `where`."""
    if len(text) > MAX_JSON_BYTES:
        raise ReadError(f"{where}: {len(text)} bytes of JSON, more than the {MAX_JSON_BYTES >> 20} MB weightport "
                        "reads; this is not a config Keras wrote")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ReadError(f"{where}: JSON nested too deeply to be a Keras config") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ReadError(f"{where}: not valid JSON ({error})") from None
    check_depth(value, where)
    return value


def check_depth(value: Any, where: str) -> None:
    """ReadError when the lists and dicts json.loads made (plain ones: compared by type, three times faster
    than isinstance) nest deeper than MAX_JSON_DEPTH; checked without recursion."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:  # a level at a time, in one comprehension (a config has tens of thousands of containers)
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise ReadError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep; this is not a Keras config")
        level = [child for item in level for child in (item.values() if type(item) is dict else item)
                 if type(child) is dict or type(child) is list]


def read_json_file(path: str, where: str | None = None) -> Any:
    """A JSON file read within the caps (its size is checked before it is read)."""
    where = where or path
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_JSON_BYTES + 1)
    except OSError as error:
        raise ReadError(f"{where}: cannot read ({error.strerror or error})") from None
    return parse_json(text, where)


def version_text(version: Any) -> str:
    """A version a file claims, as short printable text for reports (never more than that)."""
    if isinstance(version, (bytes, bytearray)):
        version = version.decode("utf-8", "replace")
    text = str(version) if isinstance(version, (str, int, float)) else "unknown"
    return text[:64] if text.isprintable() and text else "unknown"
