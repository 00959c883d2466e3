"""JSON input read safely, for the API (DRF's parser) and for forms with a JSON textarea.

Python's json module recurses once per level of nesting, so a body of 5,000 nested
brackets ended in a RecursionError (a 500). Before decoding, `nesting_depth` measures the
nesting without recursing: it blanks out the strings with one linear regular expression,
keeps the brackets (bytes.translate) and takes the running maximum of +1/−1 with numpy.
Past MAX_DEPTH the input is refused (400, code too_deep); otherwise json.loads recurses at
most MAX_DEPTH times. The decoded value is then walked, iteratively
(portal.text.json_value_problem), for what PostgreSQL cannot store: NUL characters and lone
surrogates in texts and keys, and numbers beyond a double's range (1e400 decodes to
infinity). Those are a 400 naming the path of the value (`parameters.layers[1].name`).

The body is read up to DATA_UPLOAD_MAX_MEMORY_SIZE (a 413 past it), as Django's own
request.body would; DRF's JSONParser reads the stream without that limit.
"""

from __future__ import annotations

import re

import numpy as np
from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.forms.fields import InvalidJSONInput
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.utils import json

from portal.text import json_value_problem

MAX_DEPTH = 32  # arrays and objects inside one another; real inputs use a handful

# A JSON string: its quotes and everything between, escapes included. The closing quote is
# optional so that an unterminated string ends the scan instead of being tried again from
# every later quote (which would take quadratic time); such a body is invalid JSON anyway.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(code for code in range(256) if code not in b"[]{}")


def nesting_depth(text: str | bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings are not
    counted); 0 for a scalar. Linear time, no recursion, no decoding."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    outside_strings = _STRING.sub("", text).encode("utf-8", errors="surrogatepass")
    brackets = np.frombuffer(outside_strings.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if not brackets.size:
        return 0
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    steps = opens.astype(np.int32) * 2 - 1  # +1 opens, -1 closes
    return max(int(np.cumsum(steps).max()), 0)


class TooDeep(ParseError):
    default_code = "too_deep"
    default_detail = f"The JSON body is nested more than {MAX_DEPTH} levels deep."


def too_deep_message() -> str:
    return f"The JSON is nested more than {MAX_DEPTH} levels deep; flatten it."


def _read_capped(stream) -> bytes:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream.read()
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise RequestDataTooBig("The request body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE.")
    return content


def loads_checked(text: str):
    """The decoded JSON text, refused (TooDeep, ParseError, ValidationError naming the
    value's path) if too deep, invalid, or holding what cannot be stored."""
    if nesting_depth(text) > MAX_DEPTH:
        raise TooDeep()
    try:
        value = json.loads(text)  # DRF's: NaN and Infinity literals are refused
    except ValueError as error:
        raise ParseError(f"JSON parse error - {error}") from None
    problem = json_value_problem(value, max_depth=MAX_DEPTH)
    if problem is not None:
        path, message = problem.path, problem.message
        raise ValidationError({path: [message]} if path else [message], code=problem.code)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser with a depth limit, a size limit and the storable-value check."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = _read_capped(stream).decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(f"The body is not valid {encoding}: {error}.") from None
        return loads_checked(text)


class JSONFormField(forms.JSONField):
    """A form's JSON textarea, refusing what the API's parser refuses (too deep, NUL, lone
    surrogates, infinite numbers) as form errors instead of a 500."""

    def to_python(self, value):
        if isinstance(value, str) and nesting_depth(value) > MAX_DEPTH:
            raise forms.ValidationError(too_deep_message(), code="too_deep")
        converted = super().to_python(value)
        problem = json_value_problem(converted, max_depth=MAX_DEPTH)
        if problem is not None:
            where = f"At {problem.path}: " if problem.path else ""
            raise forms.ValidationError(f"{where}{problem.message}", code=problem.code)
        return converted

    def bound_data(self, data, initial):
        # Redisplaying the input decodes it again: not when it is too deep to decode, and a
        # lone surrogate it decodes to could not be encoded in the page: show the text.
        if isinstance(data, str) and nesting_depth(data) > MAX_DEPTH:
            return InvalidJSONInput(data)
        value = super().bound_data(data, initial)
        if isinstance(data, str) and json_value_problem(value, max_depth=MAX_DEPTH):
            return InvalidJSONInput(data)
        return value
