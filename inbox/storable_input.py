"""Refuse input the database cannot store, naming the field: integers beyond its range, NUL
characters and text that is not valid Unicode (lone surrogates).

One dependency of the whole application checks every path and query parameter and every JSON or
form body, so that no route passes such a value on for the database driver to fail on (a 500).
"""

from collections.abc import Iterator
from typing import Any, get_args
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute

from domain.errors import FieldProblem, Invalid

# Integer columns are 32-bit on PostgreSQL: an id or offset beyond this names nothing stored.
SMALLEST_INT = -(2**31)
LARGEST_INT = 2**31 - 1
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

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
    raw = request.scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(raw, keep_blank_values=True, encoding="latin-1"):
        try:
            text = value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            yield FieldProblem((name,), "Must be valid text")
            continue
        yield from _value_problems((name,), _as_integer(text) if name in integers else text)


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
