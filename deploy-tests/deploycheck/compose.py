"""A compose file read as `docker compose` reads it: YAML (anchors and merge keys included), then variable
interpolation from an environment such as the one .env provides."""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class MissingVariableError(ValueError):
    """A `${VAR:?message}` (or `${VAR?message}`) whose variable is unset (or empty, for `:?`)."""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a YAML mapping")
    return data


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a .env file; comments and blank lines skipped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, separator, value = line.partition("=")
            if not separator:
                raise ValueError(f"{path.name}: {line!r} is not KEY=value")
            values[key.strip()] = value.strip()
    return values


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unclosed ${{ in {text!r}")


def _expand(expression: str, env: Mapping[str, str]) -> str:
    """The value of the inside of ${...}: NAME, or NAME followed by :- - :? ? :+ + and a word."""
    match = _NAME.match(expression)
    if match is None:
        raise ValueError(f"invalid variable reference ${{{expression}}}")
    name, rest = match.group(), expression[match.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            word = rest[len(operator) :]
            break
    else:
        raise ValueError(f"invalid variable reference ${{{expression}}}")
    is_set = value is not None and (value != "" or not operator.startswith(":"))
    if operator.endswith("-"):
        return value if is_set and value is not None else interpolate_text(word, env)
    if operator.endswith("?"):
        if not is_set:
            raise MissingVariableError(f"{name}: {interpolate_text(word, env) or 'required variable is not set'}")
        return value or ""
    return interpolate_text(word, env) if is_set else ""


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "$":
            out.append(char)
            index += 1
        elif text.startswith("$$", index):
            out.append("$")
            index += 2
        elif text.startswith("${", index):
            end = _closing_brace(text, index + 1)
            out.append(_expand(text[index + 2 : end], env))
            index = end + 1
        elif match := _NAME.match(text, index + 1):
            out.append(env.get(match.group(), ""))
            index = match.end()
        else:
            out.append(char)
            index += 1
    return "".join(out)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """`node` with every string interpolated; mapping keys are left as written."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


_REFERENCE = re.compile(r"(?<!\$)\$\{?(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


def referenced_variables(path: Path) -> set[str]:
    """Names of the variables a compose file interpolates (`$$` escapes excluded; comments ignored)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            names.update(match["name"] for match in _REFERENCE.finditer(node.replace("$$", "")))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(load(path))
    return names


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, written as a mapping or as a KEY=value list."""
    declared = service.get("environment", {})
    if isinstance(declared, list):
        return dict(item.partition("=")[::2] for item in declared)
    return {key: "" if value is None else str(value) for key, value in declared.items()}
