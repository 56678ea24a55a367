"""Refuse input the database cannot store, naming the field: integers beyond its range, NUL
characters and text that is not valid Unicode (lone surrogates, bytes that are not UTF-8).

One dependency of the whole application checks every path and query parameter and every JSON or
form body, so that no route passes such a value on for the database driver to fail on (a 500).
A JSON or form body that is not UTF-8 is refused while it is read (inbox.request_body), with the
problems `Utf8Body` names: FastAPI would answer such JSON with a bare 400 and Starlette would
decode a form's bytes into U+FFFD or Latin-1 look-alikes and store them.
"""

import codecs
from collections.abc import Iterator
from typing import Any, get_args
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from domain.errors import FieldProblem, Invalid

# Integer columns are 32-bit on PostgreSQL: an id or offset beyond this names nothing stored.
SMALLEST_INT = -(2**31)
LARGEST_INT = 2**31 - 1
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_TYPES = (URLENCODED, MULTIPART)
JSON_TYPE = "application/json"
# The location and title of a problem with a body as a whole rather than one of its fields.
BODY_LOC, BODY_LABEL = ("body",), "Request body"

Loc = tuple[str | int, ...]


async def refuse_unstorable_input(request: Request) -> None:
    """Raise Invalid naming each parameter or body field the database could not store."""
    problems = [*_parameter_problems(request), *await _body_problems(request)]
    if problems:
        raise Invalid(problems)


def _parameter_problems(request: Request) -> Iterator[FieldProblem]:
    route = request.scope.get("route")
    integers = _integer_parameters(route) if isinstance(route, APIRoute) else set()
    for name, value in request.path_params.items():
        yield from _value_problems((name,), _as_integer(value) if name in integers else value)
    # The raw query, since decoding it would quietly turn invalid UTF-8 into U+FFFD.
    for name, text in _utf8_pairs(request.scope.get("query_string", b"")):
        if text is None:
            yield FieldProblem((name,), "Must be valid text")
            continue
        yield from _value_problems((name,), _as_integer(text) if name in integers else text)


def _utf8_pairs(urlencoded: bytes) -> Iterator[tuple[str, str | None]]:
    """Yield each name and value of a query or form body; None for a value that is not UTF-8.

    A name that is not UTF-8 is shown with U+FFFD and its value counts as not UTF-8 either.
    """
    raw = urlencoded.decode("latin-1")
    for name, value in parse_qsl(raw, keep_blank_values=True, encoding="latin-1"):
        shown = name.encode("latin-1").decode("utf-8", errors="replace")
        try:
            text = value.encode("latin-1").decode("utf-8")
            name.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            yield shown, None
            continue
        yield shown, text


def text_body_type(content_type: str) -> str | None:
    """Return the body type ("json", "form" or "multipart") whose text must be UTF-8, or None."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == JSON_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return "json"
    if media_type == URLENCODED:
        return "form"
    if media_type == MULTIPART:
        return "multipart"
    return None


class Utf8Body:
    """Check a JSON or form body for UTF-8 chunk by chunk, as it comes in.

    JSON is decoded as it arrives, so a bad byte is found without keeping the body; a form is
    kept until its end (a form is a few KiB), since its bad bytes may be percent-escaped; a
    multipart form's text fields and names are checked part by part, its files never.
    """

    def __init__(self, kind: str, content_type: str = "") -> None:
        self.kind = kind
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._read = 0
        self._form = bytearray()
        self._multipart = MultipartText(content_type) if kind == "multipart" else None

    def feed(self, chunk: bytes, *, final: bool) -> list[FieldProblem]:
        """Return what is wrong with the body so far (at its end, with `final`); [] if nothing."""
        if self._multipart is not None:
            return self._multipart.feed(chunk, final=final)
        if self.kind == "form":
            self._form += chunk
            if not final:
                return []
            return [
                FieldProblem((name,), "Must be valid UTF-8 text")
                for name, text in _utf8_pairs(bytes(self._form))
                if text is None
            ]
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError as error:
            position = self._read - pending + error.start + 1
            return [
                FieldProblem(
                    BODY_LOC,
                    "Must be valid UTF-8 text: byte {position} is not",
                    {"position": position},
                    label=BODY_LABEL,
                )
            ]
        self._read += len(chunk)
        return []


class MultipartText:
    """The UTF-8 check of a multipart form: each field's name and value, each file's name.

    Starlette would read such bytes as Latin-1 and hand the route look-alike characters.
    Problems are reported at the body's end, before its last chunk reaches the route.
    """

    def __init__(self, content_type: str) -> None:
        _, options = parse_options_header(content_type)
        self._problems: list[FieldProblem] = []
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._value = bytearray()
        self._parser = MultipartParser(
            options.get(b"boundary", b""),
            {
                "on_part_begin": self._part_begins,
                "on_header_field": lambda data, start, end: self._header_name.extend(
                    data[start:end]
                ),
                "on_header_value": lambda data, start, end: self._header_value.extend(
                    data[start:end]
                ),
                "on_header_end": self._header_ends,
                "on_part_data": lambda data, start, end: self._value.extend(data[start:end]),
                "on_part_end": self._part_ends,
            },
        )

    def feed(self, chunk: bytes, *, final: bool) -> list[FieldProblem]:
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            return []  # not a form at all: the route's own parsing refuses it
        return self._problems if final else []

    def _part_begins(self) -> None:
        self._disposition = b""
        self._value.clear()

    def _header_ends(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _part_ends(self) -> None:
        _, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name", b"")
        name = raw_name.decode("utf-8", errors="replace")
        # A file's bytes are its own business; its name and a field's value are stored as text.
        texts = [raw_name, options.get(b"filename", b"")]
        if b"filename" not in options:
            texts.append(bytes(self._value))
        self._value.clear()  # a file's content is never kept
        if not all(_is_utf8(text) for text in texts):
            self._problems.append(FieldProblem((name,), "Must be valid UTF-8 text"))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _integer_parameters(route: APIRoute) -> set[str]:
    """Return the names of the route's parameters typed as integers."""
    return {
        param.alias
        for param in get_flat_params(route.dependant)
        if int in (param.field_info.annotation, *get_args(param.field_info.annotation))
    }


def _as_integer(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text  # FastAPI's own validation names it


async def _body_problems(request: Request) -> list[FieldProblem]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            return []  # FastAPI has already refused it as invalid JSON
        return list(_value_problems((), body))
    if content_type.startswith(FORM_TYPES):
        form = await request.form()
        return [
            problem
            for name, value in form.multi_items()
            if isinstance(value, str)
            for problem in _value_problems((name,), value)
        ]
    return []


def _value_problems(loc: Loc, value: Any) -> Iterator[FieldProblem]:
    """Yield a problem for each value in `value` (a parsed JSON document or a parameter)."""
    if isinstance(value, str):
        if "\x00" in value:
            yield FieldProblem(loc, "Must not contain a NUL character")
        elif not value.isascii() and not _encodable(value):
            yield FieldProblem(loc, "Must be valid text")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if value > LARGEST_INT:
            yield FieldProblem(loc, "Must be at most {le}", {"le": str(LARGEST_INT)})
        elif value < SMALLEST_INT:
            yield FieldProblem(loc, "Must be at least {ge}", {"ge": str(SMALLEST_INT)})
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _value_problems((*loc, key), key)
            yield from _value_problems((*loc, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _value_problems((*loc, index), item)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
