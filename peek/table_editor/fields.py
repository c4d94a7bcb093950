"""The columns of an edited table as form fields: the input each one gets, how
what the administrator typed becomes a value of the column's type, and what
is wrong with it when it cannot.

Numbers are typed into text inputs (with a numeric keyboard): a browser's
number input sends nothing for a value it cannot read, which would be taken
for an empty field.  Aware datetimes are shown and typed in UTC.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping

import sqlalchemy as sa

#: The kind of field editing each column type; the first match wins (an Enum
#: is a String, a Float a Numeric, a BigInteger an Integer).
_KINDS: tuple[tuple[type, str], ...] = (
    (sa.Enum, "enum"), (sa.Boolean, "bool"), (sa.Integer, "int"), (sa.Float, "float"),
    (sa.Numeric, "decimal"), (sa.Text, "text"), (sa.String, "string"),
    (sa.DateTime, "datetime"), (sa.Date, "date"))
_INTEGER_BITS = ((sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
#: What a ``datetime-local`` input can hold; a finer value is typed as text.
_LOCAL_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?")
REQUIRED = "required: this field cannot be empty"


class FieldError(ValueError):
    """A value that does not fit its column; the message says what would."""


def kind_of(column: sa.Column) -> str | None:
    """The kind of field editing ``column``, or None if its type is not editable here."""
    return next((kind for type_, kind in _KINDS if isinstance(column.type, type_)), None)


@dataclass(frozen=True)
class Field:
    key: str  # the mapped attribute, and the form field's name
    column: sa.Column
    kind: str | None  # None: shown, never edited
    editable: bool

    @property
    def label(self) -> str:
        return self.key.replace("_", " ")

    @property
    def nullable(self) -> bool:
        return bool(self.column.nullable)

    @property
    def has_default(self) -> bool:
        return self.column.default is not None or self.column.server_default is not None

    @property
    def is_switch(self) -> bool:
        """A yes/no column that cannot be empty: a switch (nullable ones get a select)."""
        return self.kind == "bool" and not self.nullable

    @property
    def max_length(self) -> int | None:
        return self.column.type.length if self.kind == "string" else None

    @property
    def utc(self) -> bool:
        return self.kind == "datetime" and bool(self.column.type.timezone)

    @property
    def options(self) -> list[tuple[str, str]]:
        """(value, text) of a select's choices."""
        if self.kind == "bool":
            return [("true", "yes"), ("false", "no")]
        return [(name, name) for name in self.column.type.enums] if self.kind == "enum" else []

    @property
    def inputmode(self) -> str | None:
        return {"int": "numeric", "float": "decimal", "decimal": "decimal"}.get(self.kind)

    @property
    def hint(self) -> str:
        """What the field takes, in a few words."""
        kind = self.kind
        if kind is None:
            return f"{self.column.type} (not editable here)"
        words = {"int": "whole number", "float": "number", "decimal": "number",
                 "text": "text", "string": "text", "bool": "yes or no", "date": "date",
                 "datetime": "date and time", "enum": "one of the choices"}[kind]
        if self.utc:
            words += " (UTC)"
        return words + (", optional" if self.nullable else "")

    @property
    def initial(self) -> str:
        """The add form's value: the column's default if it is a plain value."""
        default = self.column.default
        return self.form_value(default.arg) if default is not None and default.is_scalar else ""

    def raw_from(self, form: Mapping[str, str]) -> str:
        """What the form holds for this field (an unticked switch sends nothing)."""
        if self.is_switch:
            return "true" if form.get(self.key) else "false"
        return form.get(self.key, "")

    def is_blank(self, raw: str) -> bool:
        return raw == "" if self.kind in ("string", "text") else not raw.strip()

    def parse(self, raw: str) -> Any:
        """The value of a field that is not blank; :class:`FieldError` if it does not fit."""
        return _PARSERS[self.kind](self, raw)

    def form_value(self, value: Any) -> str:
        """``value`` as an input holds it, and as :meth:`parse` reads it back, unchanged."""
        if value is None:
            return ""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "enum":
            return _stored_names(self.column.type).get(value, str(value))
        if self.kind == "datetime":
            if self.utc:
                value = value.astimezone(timezone.utc).replace(tzinfo=None)
            return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
        return repr(value) if self.kind == "float" else str(value)

    def display(self, value: Any) -> str:
        if self.kind == "bool":
            return "yes" if value else "no"
        if self.kind == "datetime":
            return self.form_value(value).replace("T", " ") + (" UTC" if self.utc else "")
        return self.form_value(value)

    def input_type(self, raw: str) -> str:
        if self.kind == "date":
            return "date"
        if self.kind == "datetime" and (raw == "" or _LOCAL_DATETIME.fullmatch(raw)):
            return "datetime-local"
        return "text"


def read_form(fields: Iterable[Field], form: Mapping[str, str],
              adding: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The values of ``fields`` in ``form`` by key, and the error of each one
    refused.  An empty field is NULL where the column allows it; in a new row
    it leaves the column to its default, where it has one."""
    values, errors = {}, {}
    for field in fields:
        raw = field.raw_from(form)
        if field.is_blank(raw):
            if adding and field.has_default:
                continue
            if field.nullable:
                values[field.key] = None
            else:
                errors[field.key] = REQUIRED
            continue
        try:
            values[field.key] = field.parse(raw)
        except FieldError as e:
            errors[field.key] = str(e)
    return values, errors


def _scale(type_: sa.Numeric) -> int | None:
    """Decimal places a Numeric keeps (``numeric(p)`` is ``numeric(p, 0)``)."""
    if type_.scale is None and type_.precision is not None:
        return 0
    return type_.scale


def _stored_names(type_: sa.Enum) -> dict[Any, str]:
    """The ORM's value -> the name stored, for an Enum (of a Python enum or of strings)."""
    if type_.enum_class is None:
        return {name: name for name in type_.enums}
    return dict(zip(type_.enum_class, type_.enums))


def _integer(field: Field, raw: str) -> int:
    text = raw.strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        raise FieldError("not a whole number")
    bits = next(bits for type_, bits in _INTEGER_BITS if isinstance(field.column.type, type_))
    low, high, value = -2 ** (bits - 1), 2 ** (bits - 1) - 1, int(text)
    if not low <= value <= high:
        raise FieldError(f"out of range: from {low} to {high}")
    return value


def _float(field: Field, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise FieldError("not a number") from None
    if not math.isfinite(value):
        raise FieldError("not a finite number")
    return value


def _decimal(field: Field, raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise FieldError("not a number") from None
    if not value.is_finite():
        raise FieldError("not a finite number")
    precision, scale = field.column.type.precision, _scale(field.column.type)
    if scale is not None and -value.normalize().as_tuple().exponent > scale:
        raise FieldError(f"at most {scale} decimal places")
    if precision is not None and value != 0 and value.adjusted() + 1 > precision - (scale or 0):
        raise FieldError(f"too large: at most {precision - (scale or 0)} digits before "
                         "the decimal point")
    return value


def _text(field: Field, raw: str) -> str:
    value = raw.replace("\r\n", "\n")  # browsers send a textarea's line breaks as CRLF
    if "\x00" in value:
        raise FieldError("cannot hold NUL characters")
    if field.max_length is not None and len(value) > field.max_length:
        raise FieldError(f"too long: at most {field.max_length} characters, not {len(value)}")
    return value


def _boolean(field: Field, raw: str) -> bool:
    value = {"true": True, "false": False}.get(raw.strip().lower())
    if value is None:
        raise FieldError("yes or no")
    return value


def _date(field: Field, raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise FieldError("not a date: write it as 2024-05-31") from None


def _datetime(field: Field, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise FieldError("not a date and time: write it as 2024-05-31 13:45:00") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc) if field.utc else value
    if not field.utc:
        raise FieldError("give it without a time zone: this column stores none")
    return value


def _enum(field: Field, raw: str) -> Any:
    by_name = {name: value for value, name in _stored_names(field.column.type).items()}
    if raw not in by_name:
        raise FieldError(f"one of {', '.join(by_name)}")
    return by_name[raw]


_PARSERS: dict[str, Callable[[Field, str], Any]] = {
    "int": _integer, "float": _float, "decimal": _decimal, "text": _text, "string": _text,
    "bool": _boolean, "date": _date, "datetime": _datetime, "enum": _enum}
