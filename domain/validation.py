"""Turn pydantic's validation errors into field problems the user can read in their language."""

import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from domain.errors import FieldProblem, Invalid

F = TypeVar("F", bound=BaseModel)

# pydantic error type → English message id; placeholders come from the error's context.
MESSAGES: dict[str, str] = {
    "missing": "This field is required",
    "extra_forbidden": "This field is not part of the form",
    "int_parsing": "Must be a whole number",
    "int_type": "Must be a whole number",
    "int_from_float": "Must be a whole number",
    "float_parsing": "Must be a number",
    "float_type": "Must be a number",
    "bool_parsing": "Must be true or false",
    "string_type": "Must be text",
    "string_too_short": "Must not be empty",
    "string_too_long": "Must be at most {max_length} characters",
    "string_pattern_mismatch": "Has the wrong format",
    "greater_than_equal": "Must be at least {ge}",
    "less_than_equal": "Must be at most {le}",
    "greater_than": "Must be greater than {gt}",
    "less_than": "Must be less than {lt}",
    "enum": "Must be one of: {expected}",
    "literal_error": "Must be one of: {expected}",
    "datetime_parsing": "Must be a date and time",
    "datetime_from_date_parsing": "Must be a date and time",
    "date_parsing": "Must be a date",
    "model_type": "Must be an object",
    "list_type": "Must be a list",
    "too_short": "Add at least {min_length}",
    "too_long": "At most {max_length} allowed",
    "json_invalid": "The request body is not valid JSON",
    "text_invisible": "Must contain visible characters",
    "datetime_without_zone": "Give the time zone too, e.g. 2027-01-05T09:00+08:00",
    "item_repeated": "Item {items} has more than one decision",
    "item_unknown": "Item {items} is not on this list",
    "item_missing": "Every item needs a decision; missing: {items}",
}


# Unicode categories that show nothing on their own: controls, format characters (zero-width
# space and joiners, BOM, direction marks), separators and combining marks.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters that render as a blank (Hangul fillers, the blank Braille pattern).
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(value: str) -> str:
    if not any(
        unicodedata.category(c) not in INVISIBLE_CATEGORIES and c not in BLANK_LETTERS
        for c in value
    ):
        raise field_error("text_invisible")
    return value


# Text a person must be able to read: a name, a description, a reason. Refuses text made only
# of zero-width, control or blank characters, which would be stored and show as nothing.
VisibleText = Annotated[str, AfterValidator(_visible)]


def field_error(kind: str, **params: str) -> PydanticCustomError:
    """Return a validator's error of `kind` (a key of MESSAGES), worded with `params`."""
    return PydanticCustomError(kind, MESSAGES[kind], params)


def problems_from(errors: Sequence[Any], form: type[BaseModel] | None = None) -> list[FieldProblem]:
    """Return one FieldProblem per pydantic error dict, located and worded for the user."""
    problems = []
    for error in errors:
        loc = tuple(error["loc"])
        ctx: dict[str, Any] = dict(error.get("ctx") or {})
        if error["type"] == "value_error":
            # Model validators say "field: message" because they have no location of their own;
            # one of a row of a list is located at the row, so the field goes after it.
            text = str(ctx.get("error", error["msg"]))
            field, sep, message = text.partition(": ")
            if sep and (not loc or (isinstance(loc[-1], int) and field.isidentifier())):
                loc = (*loc, field)
            problems.append(_problem(form, loc, message if sep else text, {}))
            continue
        message = MESSAGES.get(error["type"], error["msg"])
        params = {k: str(v) for k, v in ctx.items() if f"{{{k}}}" in message}
        problems.append(_problem(form, loc, message, params))
    return problems


def _problem(
    form: type[BaseModel] | None, loc: tuple[Any, ...], message: str, params: dict[str, Any]
) -> FieldProblem:
    if loc and loc[0] in ("body", "query", "path"):
        loc = loc[1:]
    label = field_title(form, loc) if form is not None else None
    return FieldProblem(loc, message, params, label)


def validate_form(form: type[F], payload: Any, context: dict[str, Any] | None = None) -> F:
    """Return `payload` parsed as `form`, or raise Invalid naming each bad field.

    `context` is what the task showed the person (its listed items), for forms that check
    a decision against it.
    """
    try:
        return form.model_validate(payload, context=context)
    except ValidationError as exc:
        raise Invalid(problems_from(exc.errors(), form)) from exc


def field_title(form: type[BaseModel], loc: tuple[str | int, ...]) -> str | None:
    """Return the declared title (an English msgid) of the top-level field at `loc`."""
    if not loc or not isinstance(loc[0], str):
        return None
    info = form.model_fields.get(loc[0])
    return info.title if info else None
