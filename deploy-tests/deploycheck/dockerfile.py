"""A Dockerfile read into stages and instructions, enough to check what it builds and runs."""

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The ENV values this stage sets (KEY=value pairs; $VAR references left as written)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                values[key] = value
        return values

    def command(self) -> list[str]:
        """The exec-form CMD (a JSON array); the shell form is refused so signals reach the process."""
        commands = self.all("CMD")
        if not commands:
            raise ValueError(f"stage FROM {self.base} has no CMD")
        parsed = json.loads(commands[-1].arguments)
        if not isinstance(parsed, list) or not all(isinstance(part, str) for part in parsed):
            raise ValueError(f"CMD on line {commands[-1].line} is not an exec-form JSON array of strings")
        return parsed

    def user(self) -> str | None:
        users = self.all("USER")
        return users[-1].arguments.strip() if users else None


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, with continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            keyword, _, arguments = " ".join(pending).partition(" ")
            found.append(Instruction(keyword.upper(), arguments.strip(), start))
            pending = []
    return found


_FROM = re.compile(r"^(?:--platform=\S+\s+)?(?P<base>\S+)(?:\s+AS\s+(?P<name>\S+))?$", re.IGNORECASE)


def stages(path: Path) -> list[Stage]:
    result: list[Stage] = []
    for instruction in instructions(path.read_text()):
        if instruction.keyword == "FROM":
            match = _FROM.match(instruction.arguments)
            if match is None:
                raise ValueError(f"{path.name}:{instruction.line}: cannot read FROM {instruction.arguments}")
            result.append(Stage(match["base"], match["name"]))
        elif not result:
            if instruction.keyword != "ARG":
                raise ValueError(f"{path.name}:{instruction.line}: {instruction.keyword} before the first FROM")
        else:
            result[-1].instructions.append(instruction)
    return result


def copy_sources(instruction: Instruction) -> tuple[str | None, list[str]]:
    """(the --from stage or None, the source paths) of a COPY instruction."""
    parts = shlex.split(instruction.arguments)
    options = [part for part in parts if part.startswith("--")]
    paths = [part for part in parts if not part.startswith("--")]
    stage = next((option.partition("=")[2] for option in options if option.startswith("--from=")), None)
    return stage, paths[:-1]


def pip_install_arguments(stage: Stage) -> list[str]:
    """The requirement arguments of the stage's `pip install` commands (options and their values dropped)."""
    arguments: list[str] = []
    for instruction in stage.all("RUN"):
        for command in instruction.arguments.split("&&"):
            words = shlex.split(command)
            if words[:2] != ["pip", "install"]:
                continue
            rest = iter(words[2:])
            for word in rest:
                if word in ("--constraint", "-c", "--requirement", "-r"):
                    next(rest)
                elif not word.startswith("-"):
                    arguments.append(word)
    return arguments
