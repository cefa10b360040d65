"""Prints the CHANGELOG.md section of one version (its body, without the heading): the notes of a release.

python3 scripts/changelog_section.py 0.1.0
"""

import re
import sys
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"


def section(text: str, version: str) -> str:
    match = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## \[|\Z)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise LookupError(f"CHANGELOG.md has no section '## [{version}]'; add one before tagging v{version}")
    return match[1].strip() + "\n"


if __name__ == "__main__":
    try:
        print(section(CHANGELOG.read_text(), sys.argv[1]), end="")
    except LookupError as missing:
        sys.exit(str(missing))
