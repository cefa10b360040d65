"""Which paths of the build context a .dockerignore leaves out, by Docker's rules: patterns are matched
against the path from the context root (`*` within one segment, `**` across segments), a match of a parent
folder also excludes what is in it, `!` re-includes, and the last matching pattern wins."""

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    include: bool


def _compile(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/").removeprefix("./")
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


def read(path: Path) -> list[Pattern]:
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        patterns.append(Pattern(_compile(line.removeprefix("!")), include))
    return patterns


def excluded(patterns: list[Pattern], relative_path: str) -> bool:
    """Whether the file at `relative_path` ("a/b/c", from the context root) stays out of the context."""
    segments = relative_path.strip("/").split("/")
    candidates = ["/".join(segments[: end + 1]) for end in range(len(segments))]
    result = False
    for pattern in patterns:
        if any(pattern.regex.fullmatch(candidate) for candidate in candidates):
            result = not pattern.include
    return result
