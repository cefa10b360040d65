"""MLflow's search language: `metrics.loss < 0.5 and params.lr = '0.01' and tags.team LIKE 'vis%'` filters and
`metrics.loss DESC` orderings, for runs and experiments.

A filter is parsed once into clauses; each candidate is then looked up by (kind, key), so the same code serves
runs (metrics, params, tags, attributes) and experiments (tags, attributes). Missing values never match a
comparison and sort last, as in MLflow."""

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from azuraforge_api.mlflow.errors import invalid

Value = str | float | int | None
Lookup = Callable[[str, str], Value]
"""(kind, key) -> the candidate's value, or None when it has none; kind is metric, param, tag or attribute."""

_KINDS = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
}  # fmt: skip
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>!=|>=|<=|=|<|>|\(|\)|,)
      | (?P<word>[\w.\-:/+]+(?:`[^`]*`)?)
    )""",
    re.VERBOSE,
)
_NUMERIC_OPS = {"=", "!=", ">", ">=", "<", "<="}
_STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"}


@dataclass(frozen=True)
class Clause:
    kind: str
    key: str
    op: str
    value: Value | tuple[str, ...]


def parse_identifier(
    word: str, numeric_attributes: frozenset[str], string_attributes: frozenset[str]
) -> tuple[str, str]:
    """`metrics.loss`, `params.lr`, `tags.x` or an attribute -> (kind, key)."""
    prefix, dot, key = word.partition(".")
    if dot and prefix.lower() in _KINDS:
        kind = _KINDS[prefix.lower()]
    elif not dot:
        kind, key = "attribute", word
    else:
        raise invalid(
            f"Invalid entity type {prefix!r} in the search filter; use metrics., params., tags. or attributes."
        )
    key = key.strip('`"')
    if kind == "attribute" and key not in numeric_attributes | string_attributes:
        allowed = ", ".join(sorted(numeric_attributes | string_attributes))
        raise invalid(f"Invalid attribute key {key!r} in the search filter; valid keys are: {allowed}")
    if not key:
        raise invalid(f"Invalid identifier {word!r} in the search filter: its key is empty")
    return kind, key


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise invalid(f"Invalid search filter {text!r}: cannot read it from {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _string(token: tuple[str, str], where: str) -> str:
    kind, text = token
    if kind != "string":
        raise invalid(f"Invalid search filter: {where} must be compared with a quoted string, got {text}")
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse_filter(
    text: str | None, numeric_attributes: frozenset[str], string_attributes: frozenset[str]
) -> list[Clause]:
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    clauses: list[Clause] = []
    position = 0

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise invalid(f"Invalid search filter {text!r}: it ends in the middle of a comparison")
        position += 1
        return tokens[position - 1]

    while True:
        kind, word = take()
        if kind != "word":
            raise invalid(f"Invalid search filter {text!r}: expected an identifier, got {word!r}")
        entity, key = parse_identifier(word, numeric_attributes, string_attributes)
        where = f"{entity} {key!r}"
        op = take()[1].upper()
        if op in ("NOT", "IS"):
            following = take()[1].upper()
            if op == "IS" and following == "NOT":
                following = "NOT " + take()[1].upper()
            op = f"{op} {following}"
        numeric = entity == "metric" or (entity == "attribute" and key in numeric_attributes)
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise invalid(
                f"Invalid comparator {op!r} for {where} in the search filter; use one of {', '.join(sorted(allowed))}"
            )
        value: Value | tuple[str, ...]
        if op in ("IS NULL", "IS NOT NULL"):
            value = None
        elif op in ("IN", "NOT IN"):
            if take()[1] != "(":
                raise invalid(f"Invalid search filter: {op} for {where} needs a list in parentheses, ('a', 'b')")
            items = []
            while True:
                items.append(_string(take(), where))
                separator = take()[1]
                if separator == ")":
                    break
                if separator != ",":
                    raise invalid(f"Invalid search filter: expected ',' or ')' in the list for {where}")
            value = tuple(items)
        elif numeric:
            token_kind, number = take()
            try:
                value = float(number if token_kind == "word" else number[1:-1])
            except ValueError:
                raise invalid(f"Invalid search filter: {where} must be compared with a number, got {number}") from None
        else:
            value = _string(take(), where)
        clauses.append(Clause(entity, key, op, value))
        if position == len(tokens):
            return clauses
        if take()[1].upper() != "AND":
            raise invalid(f"Invalid search filter {text!r}: clauses can only be joined with AND")


def _like(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _holds(clause: Clause, found: Value) -> bool:
    op, wanted = clause.op, clause.value
    if op == "IS NULL":
        return found is None
    if op == "IS NOT NULL":
        return found is not None
    if found is None:
        return False
    if isinstance(wanted, tuple):
        return (str(found) in wanted) == (op == "IN")
    if op in ("LIKE", "ILIKE"):
        return _like(str(wanted), str(found), op == "ILIKE")
    if isinstance(wanted, float):
        number = float(found)
        return {
            "=": number == wanted, "!=": number != wanted, ">": number > wanted,
            ">=": number >= wanted, "<": number < wanted, "<=": number <= wanted,
        }[op]  # fmt: skip
    return (str(found) == wanted) == (op == "=")


def matches(clauses: Sequence[Clause], lookup: Lookup) -> bool:
    return all(_holds(clause, lookup(clause.kind, clause.key)) for clause in clauses)


@dataclass(frozen=True)
class Ordering:
    kind: str
    key: str
    descending: bool


def parse_order_by(
    order_by: Sequence[str], numeric_attributes: frozenset[str], string_attributes: frozenset[str]
) -> list[Ordering]:
    orderings = []
    for text in order_by:
        parts = text.strip().rsplit(None, 1)
        direction = "ASC"
        if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
            direction = parts[1].upper()
            identifier = parts[0]
        else:
            identifier = text.strip()
        if not identifier:
            raise invalid(f"Invalid order_by clause {text!r}: name a metric, param, tag or attribute")
        kind, key = parse_identifier(identifier, numeric_attributes, string_attributes)
        orderings.append(Ordering(kind, key, direction == "DESC"))
    return orderings


T = TypeVar("T")


def ordered(items: Sequence[T], orderings: Sequence[Ordering], lookup: Callable[[T, str, str], Value]) -> list[T]:
    """Sorted by each ordering in turn (stable sorts, last key first); missing values last either way."""
    result = list(items)
    for ordering in reversed(orderings):
        present = [item for item in result if lookup(item, ordering.kind, ordering.key) is not None]
        absent = [item for item in result if lookup(item, ordering.kind, ordering.key) is None]

        def key(item: T, ordering: Ordering = ordering) -> Any:
            value = lookup(item, ordering.kind, ordering.key)
            return (0, float(value), "") if isinstance(value, int | float) else (1, 0.0, str(value))

        result = sorted(present, key=key, reverse=ordering.descending) + absent
    return result


def page(items: Sequence[T], max_results: int, token: str | None) -> tuple[list[T], str | None]:
    """One page and the token of the next (None after the last)."""
    offset = decode_token(token)
    chosen = list(items[offset : offset + max_results])
    following = offset + max_results
    return chosen, (encode_token(following) if following < len(items) else None)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page token {token[:50]!r}; pass the next_page_token of the previous answer")
    return offset
