"""Extract the code blocks that carry a file name from a Markdown page.

    python docs/extract_blocks.py docs/plugins/walkthrough.md DEST   # writes DEST/<title> files

A block is written when its fence has a title: ```python title="inkwell/inkwell/soft.py"```.
The walkthrough test uses this, so the files it runs are exactly the ones the docs show.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_FENCE = re.compile(r'^```\w*[^\n]*?title="([^"]+)"[^\n]*\n(.*?)^```\s*$', re.M | re.S)


def titled_blocks(markdown: str) -> dict[str, str]:
    """title -> code of every titled fenced block, in page order (a later block with the same
    title replaces an earlier one, as a reader following the page would)."""
    return {title: code for title, code in _FENCE.findall(markdown)}


def write_blocks(page: Path, dest: Path) -> list[Path]:
    written = []
    for title, code in titled_blocks(page.read_text(encoding="utf-8")).items():
        path = dest / title
        if ".." in Path(title).parts or Path(title).is_absolute():
            raise ValueError(f"{page}: block title {title!r} must be a relative path inside the project")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    for path in write_blocks(Path(argv[0]), Path(argv[1])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
