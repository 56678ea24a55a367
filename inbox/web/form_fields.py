"""A step's pydantic form as HTML fields, and the browser's submitted fields back as its JSON.

Fields are named by their path ("items.0.topic"), so lists of rows (plan items, handover items,
attendance) round-trip: a failed submit re-renders exactly what was typed, with each error
beside its field.
"""

import inspect
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from starlette.datastructures import FormData

from domain.errors import FieldProblem
from i18n import in_context

# Integer fields that name a person of the site: shown as a choice of people, not a number.
PERSON_FIELDS = frozenset(
    {
        "trainer_id",
        "successor_id",
        "supervisor_id",
        "employee_id",
        "leaver_id",
        "mentor_id",
        "user_id",
        "to_user_id",
        "attendee_ids",
    }  # fmt: skip
)
# Integer fields that name a site: shown as a choice of the sites the person may pick, by name.
SITE_FIELDS = frozenset({"site_id"})
# Integer fields of a row that name an entry the task lists (a handover item): the person sees
# the entry itself, read-only, beside the row's decision, and its id goes back hidden.
LISTED_FIELDS = frozenset({"item_id"})
# Integer fields that rate on a scale: shown as a choice of labelled points, not a number box.
RATING_FIELDS: dict[str, tuple[str, ...]] = {
    "satisfaction": (
        "1 Very dissatisfied",
        "2 Dissatisfied",
        "3 Neither satisfied nor dissatisfied",
        "4 Satisfied",
        "5 Very satisfied",
    ),
}
# Free text longer than this is a textarea.
TEXTAREA_MIN_LENGTH = 300
# Blank rows offered under a list the person has not filled yet.
EMPTY_ROWS = 1
# Stands for a new row's index in the spare row's field names; one per nesting depth, so that
# adding an item does not renumber the sessions inside it.
ROW_PLACEHOLDER = "__row{depth}__"
BLANK = ("", None, False, [])


@dataclass
class FieldView:
    """One input of the rendered form."""

    path: str
    label: str
    kind: str  # text | textarea | number | select | multiselect | checkbox | date | ...
    required: bool
    value: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    help: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    rows: list[list["FieldView"]] = field(default_factory=list)  # kind == "rows"
    row_template: list["FieldView"] = field(default_factory=list)
    placeholder: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)  # kind == "listed": the entry


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Return the annotation without `| None`, and whether None was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), len(args) < len(get_args(annotation))
    return annotation, False


def _list_item(annotation: Any) -> Any:
    """Return the type of a list's items, or None when `annotation` is not a list."""
    return get_args(annotation)[0] if get_origin(annotation) is list else None


def _choices(annotation: Any, gettext: Any) -> list[tuple[str, str]] | None:
    if get_origin(annotation) is Literal:
        values, context = [str(v) for v in get_args(annotation)], None
    elif inspect.isclass(annotation) and issubclass(annotation, Enum):
        values, context = [str(member.value) for member in annotation], annotation.__name__
    else:
        return None
    return [(value, option_label(value, gettext, context)) for value in values]


def option_label(value: str, gettext: Any, context: str | None = None) -> str:
    """Return the shown name of a choice: its English words as the msgid, translated.

    A choice of an enum is looked up under the enum's name as msgctxt first, so that the same
    English word can read differently there ("Venue" of a budget is 场地, a session's is 地点).
    """
    words = value.replace("_", " ").capitalize()
    return in_context(gettext, context, words) if context else str(gettext(words))


def listed_entries(context: Mapping[str, Any]) -> dict[str, dict[Any, Mapping[str, Any]]]:
    """Return the entries a task's context lists (its handover items), by id field and id."""
    listed: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for entries in context.values():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, Mapping):
                for key in LISTED_FIELDS & entry.keys():
                    listed.setdefault(key, {})[entry[key]] = entry
    return listed


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def list_row_forms(form: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Return the form's fields that are lists of rows, with each row's own form."""
    rows = {}
    for name, info in form.model_fields.items():
        annotation, _ = _unwrap(info.annotation)
        item = _list_item(annotation)
        if item is not None and _is_model(item):
            rows[name] = item
    return rows


def _default(info: FieldInfo) -> Any:
    """Return a field's default, calling its factory (a list field's default is a factory)."""
    return info.get_default(call_default_factory=True, validated_data={})


def _limits(info: FieldInfo) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for constraint in info.metadata:
        for name, html in (("ge", "min"), ("le", "max"), ("max_length", "maxlength"),
                           ("min_length", "minlength")):  # fmt: skip
            if getattr(constraint, name, None) is not None:
                attrs[html] = getattr(constraint, name)
    return attrs


def form_fields(
    form: type[BaseModel],
    values: dict[str, Any],
    errors: dict[str, str],
    gettext: Any,
    people: list[tuple[str, str]],
    prefix: str = "",
    depth: int = 0,
    *,
    sites: list[tuple[str, str]] | None = None,
    listed: Mapping[str, Mapping[Any, Mapping[str, Any]]] | None = None,
) -> list[FieldView]:
    """Return the inputs of `form`, filled with `values` and marked with `errors`.

    `people` and `sites` are the choices of fields naming a person or a site; `listed` holds
    the entries the task lists (see `listed_entries`), shown read-only in the rows naming them.
    """
    views = []
    for name, info in form.model_fields.items():
        path = f"{prefix}{name}"
        annotation, optional = _unwrap(info.annotation)
        label = str(gettext(info.title or name))
        view = FieldView(
            path=path,
            label=label,
            kind="text",
            required=info.is_required(),
            value=values.get(name, None if info.is_required() else _default(info)),
            error=errors.get(path),
            help=str(gettext(info.description)) if info.description else None,
            attrs=_limits(info),
        )
        item = _list_item(annotation)
        if item is not None and _is_model(item):
            rows = values.get(name) or []
            view.kind = "rows"
            count = max(len(rows), EMPTY_ROWS)
            view.rows = [
                form_fields(
                    item,
                    rows[i] if i < len(rows) else {},
                    errors,
                    gettext,
                    people,
                    f"{path}.{i}.",
                    sites=sites,
                    listed=listed,
                )
                for i in range(count)
            ]
            view.row_template = form_fields(
                item, {}, {}, gettext, people, f"{path}.{ROW_PLACEHOLDER}.", sites=sites
            )
            view.error = errors.get(path)
        elif item is not None:
            view.kind = "multiselect"
            view.options = people if name in PERSON_FIELDS else (_choices(item, gettext) or [])
            if not view.options:
                view.kind = "tags"
            view.value = [str(v) for v in (view.value or [])]
        elif name in PERSON_FIELDS:
            view.kind, view.options = "select", people
        elif name in SITE_FIELDS and sites is not None:
            view.kind, view.options = "select", sites
        elif name in LISTED_FIELDS and (entry := _entry(listed, name, view.value)) is not None:
            view.kind = "listed"
            view.facts = {k: v for k, v in entry.items() if k != name}
        elif name in RATING_FIELDS:
            view.kind = "rating"
            view.options = [
                (str(point), str(gettext(label)))
                for point, label in enumerate(RATING_FIELDS[name], start=1)
            ]
        elif (options := _choices(annotation, gettext)) is not None:
            view.kind, view.options = "select", options
        elif annotation is bool:
            view.kind = "checkbox"
        elif annotation in (int, float, Decimal):
            view.kind = "number"
            view.attrs.setdefault("step", "1" if annotation is int else "any")
        elif annotation is date:
            view.kind = "date"
        elif annotation is datetime:
            view.kind = "datetime-local"
        elif annotation is time:
            view.kind = "time"
        elif view.attrs.get("maxlength", 0) >= TEXTAREA_MIN_LENGTH:
            view.kind = "textarea"
        if optional:
            view.required = False
        views.append(view)
    return views


def _entry(
    listed: Mapping[str, Mapping[Any, Mapping[str, Any]]] | None, name: str, value: Any
) -> Mapping[str, Any] | None:
    """Return the listed entry a row's id field names (submitted back as text), if any."""
    entries = (listed or {}).get(name, {})
    return next((e for key, e in entries.items() if str(key) == str(value)), None)


def parse_submission(form: type[BaseModel], data: FormData, zone: ZoneInfo) -> dict[str, Any]:
    """Return the submitted fields of `form` as the JSON its pydantic model validates."""
    return _parse(form, data, "", zone)


def _parse(form: type[BaseModel], data: FormData, prefix: str, zone: ZoneInfo) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for name, info in form.model_fields.items():
        path = f"{prefix}{name}"
        annotation, _ = _unwrap(info.annotation)
        item = _list_item(annotation)
        if item is not None and _is_model(item):
            rows = [
                _parse(item, data, f"{path}.{index}.", zone) for index in _row_indexes(data, path)
            ]
            # A row left entirely blank (the spare one offered under the list) is not a row.
            parsed[name] = [row for row in rows if any(v not in BLANK for v in row.values())]
        elif item is not None:
            raw = [v for v in data.getlist(path) if isinstance(v, str)]
            if len(raw) == 1 and not _choices(item, lambda s: s) and name not in PERSON_FIELDS:
                raw = [part.strip() for part in raw[0].replace("，", ",").split(",")]
            parsed[name] = [v for v in raw if v]
        elif annotation is bool:
            parsed[name] = path in data
        else:
            value = data.get(path)
            if not isinstance(value, str) or value.strip() == "":
                continue  # left empty: the form's default applies, or "required" is reported
            parsed[name] = _aware(value, zone) if annotation is datetime else value
    return parsed


def _aware(value: str, zone: ZoneInfo) -> str:
    """Return a datetime-local input read in the site's time zone (bad text goes on as is)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # the form's model reports it as "Must be a date and time"
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).isoformat()


def _row_indexes(data: FormData, path: str) -> list[int]:
    indexes = set()
    for key in data:
        if key.startswith(f"{path}.") and (part := key[len(path) + 1 :].split(".")[0]).isdigit():
            indexes.add(int(part))
    return sorted(indexes)


def errors_by_path(problems: list[FieldProblem], gettext: Any) -> dict[str, str]:
    """Return each problem's message, keyed by the path of the field it is about."""
    return {
        ".".join(str(p) for p in problem.loc): str(gettext(problem.message)).format(
            **problem.params
        )
        for problem in problems
    }
