"""What text the portal stores: validators for single- and multi-line fields, and the check
of a decoded JSON value that every JSON input goes through (portal/parsers.py).

A single-line field (a title, a name, a version's framework) refuses every control
character: a CR or LF in a use case's title would reach an e-mail's Subject header, which
Django refuses, and a tab or an escape sequence has no place in a one-line label either. A
multi-line field (a description, a comment) keeps tabs and newlines and refuses the other
control characters. NUL is refused everywhere: PostgreSQL's text and jsonb cannot hold it.
The validators are Django validators, so model fields (and through them DRF's
ModelSerializers) and form fields take them alike.
"""

from __future__ import annotations

import math
import re
import sys
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

__all__ = [
    "NUL_MESSAGE",
    "ControlCharacterValidator",
    "JSONProblem",
    "ValidationError",
    "json_value_problem",
    "multi_line",
    "single_line",
]

NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored"
SURROGATE_MESSAGE = "contains a lone surrogate (\\ud800–\\udfff), which is not valid Unicode"

# C0 controls, DEL and C1 controls; line and paragraph separators end a line too.
_SINGLE_LINE_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI_LINE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DOUBLE = sys.float_info.max


def _named(character: str) -> str:
    return f"U+{ord(character):04X}"


@deconstructible
class ControlCharacterValidator:
    """Refuses text with a character the pattern matches, naming the first one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, value) -> None:
        if not isinstance(value, str):
            return
        pattern = _SINGLE_LINE_REFUSED if self.kind == "single" else _MULTI_LINE_REFUSED
        found = pattern.search(value)
        if found is None:
            return
        if self.kind == "single":
            message = (
                "Keep this on one line: it contains a control character (%(character)s, "
                "such as a line break or a tab)."
            )
        else:
            message = (
                "This contains a control character (%(character)s); only tabs and line "
                "breaks are allowed."
            )
        raise ValidationError(
            message, code="control_character", params={"character": _named(found.group())}
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, ControlCharacterValidator) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(self.kind)


single_line = ControlCharacterValidator("single")
multi_line = ControlCharacterValidator("multi")


class JSONProblem(NamedTuple):
    """Where in a JSON value (a path such as `parameters.layers[1].name`), what, and which
    kind of problem: nul, surrogate, out_of_range or too_deep."""

    path: str
    message: str
    code: str


def _text_problem(text: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return NUL_MESSAGE, "nul"
    if _SURROGATE.search(text):
        return SURROGATE_MESSAGE, "surrogate"
    return None


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def json_value_problem(value, *, max_depth: int, path: str = "") -> JSONProblem | None:
    """The first thing in a decoded JSON value that cannot be stored: a NUL or a lone
    surrogate in a text or a key, a number beyond a double's range (1e400 decodes to
    infinity, 10**400 to an int no float can hold), or containers nested deeper than
    `max_depth` (the value itself counts as level 1). None if it is fine. Iterative, so any
    depth is safe to walk."""
    stack: list[tuple[object, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is str:
            problem = _text_problem(item)
            if problem:
                return JSONProblem(where, f"The text {problem[0]}.", problem[1])
        elif kind is float or kind is int:
            # 1e400 decodes to infinity; 10**400 stays an int no double can hold either.
            if not (math.isfinite(item) if kind is float else -_MAX_DOUBLE <= item <= _MAX_DOUBLE):
                return JSONProblem(
                    where, "The number is out of range (beyond ±1.8e308).", "out_of_range"
                )
        elif kind is dict or kind is list:
            if depth > max_depth:
                message = f"The value is nested more than {max_depth} levels deep."
                return JSONProblem(where, message, "too_deep")
            if kind is dict:
                for key in item:
                    problem = _text_problem(key) if type(key) is str else None
                    if problem:
                        return JSONProblem(where, f"A key {problem[0]}.", problem[1])
                children = [(child, _join(where, key), depth + 1) for key, child in item.items()]
            else:
                children = [(child, _join(where, n), depth + 1) for n, child in enumerate(item)]
            stack.extend(reversed(children))  # popped in the document's order
    return None
