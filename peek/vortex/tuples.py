"""Tuples: typed, registered data classes that travel between services and devices.

A tuple class subclasses :class:`Tuple` and names its globally unique type::

    class StringIntTuple(Tuple, tag="peek_plugin_tutorial.StringIntTuple"):
        string1: str
        int1: int = 0

The type name starts with the package of the plugin declaring the class
(outside plugins: the top-level package of its module).  Encoded, a
tuple is a JSON object carrying its type name in ``_tt``; decoding rebuilds
the same class, nested tuples, lists and dicts of them, dates (with their
time zone) and enums included, and checks every field's type.  An unknown
type name or a wrong field is a :class:`TupleError`, never a plain dict.

msgspec does the encoding and checking (it is about 50 times faster than a
hand-written codec on the vortex's hot path).  An SQLAlchemy mapped class
becomes a tuple with :func:`orm_tuple`.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Union

import msgspec

from peek.vortex.names import tuple_name_problem

__all__ = ["Tuple", "TupleError", "UnknownTupleType", "TYPE_FIELD", "encode", "decode",
           "from_builtins", "orm_tuple", "tuple_type", "is_per_user", "per_user_types",
           "learn_server_per_user"]

TYPE_FIELD = "_tt"


class TupleError(ValueError):
    """Data that is not a valid tuple: unknown type, wrong field, bad JSON."""


class UnknownTupleType(TupleError):
    """A tuple whose type name no class on this service declares."""


_registry: dict[str, type["Tuple"]] = {}
_orm_mirrors: dict[type, type["Tuple"]] = {}  # mapped class -> its generated Tuple
_lock = threading.Lock()
_decoder: msgspec.json.Decoder | None = None


class _TupleMeta(msgspec.StructMeta):
    """Registers each tuple class once msgspec has read its type name."""

    def __new__(mcls, name: str, bases: tuple, namespace: dict, per_user: bool | None = None,
                **kwargs: Any):
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        if per_user is not None:
            cls.__per_user__ = per_user
        if bases != (msgspec.Struct,):
            _register(cls)
        return cls


class Tuple(msgspec.Struct, metaclass=_TupleMeta, tag_field=TYPE_FIELD, kw_only=True,
            gc=False):
    """Base of every tuple.  Instances are compared by value.

    ``class TaskTuple(Tuple, tag=..., per_user=True)`` declares a per-user
    type: the client service puts the signed-in user's name in the ``user``
    filter of every selector of it (see :func:`peek.vortex.selector.for_user`).
    """

    __per_user__: ClassVar[bool] = False


def _owner(module: str) -> str:
    """The plugin package a module belongs to (bundled plugins live inside
    ``peek.plugins``), else its top-level package."""
    parts = module.split(".")
    return next((p for p in parts if p.startswith(("peek_plugin_", "peek_core_"))), parts[0])


def _register(cls: type[Tuple]) -> None:
    global _decoder
    name = cls.__struct_config__.tag
    owner = _owner(getattr(cls, "__orm_class__", cls).__module__)
    if not isinstance(name, str) or name == cls.__name__:
        raise TupleError(f"tuple {cls.__qualname__} needs a type name: declare it as "
                         f"class {cls.__name__}(Tuple, tag=\"{owner}.{cls.__name__}\")")
    if not name.startswith(owner + "."):
        raise TupleError(f"tuple type name {name!r} must start with {owner + '.'!r}, the "
                         f"package declaring it")
    problem = tuple_name_problem(name)
    if problem is not None:
        raise TupleError(f"tuple {cls.__qualname__}: {problem}")
    with _lock:
        existing = _registry.get(name)
        if existing is not None and (existing.__module__, existing.__qualname__) != (
                cls.__module__, cls.__qualname__):
            raise TupleError(f"tuple type name {name!r} is taken by "
                             f"{existing.__module__}.{existing.__qualname__}")
        _registry[name] = cls  # a reloaded module's class replaces its old self
        _decoder = None


#: Per-user tuple types the server declares (a client or agent service learns
#: them from the server's ``plugins`` frame), known here or not.
_server_per_user: frozenset[str] = frozenset()


def is_per_user(name: str) -> bool:
    """Whether tuple type ``name`` is declared ``per_user``: here, or on the
    server (for a type whose plugin does not run on this service)."""
    if name in _server_per_user:
        return True
    cls = _registry.get(name)
    return bool(cls is not None and cls.__per_user__)


def per_user_types() -> list[str]:
    """The per-user tuple types declared on this service."""
    with _lock:
        return sorted(name for name, cls in _registry.items() if cls.__per_user__)


def learn_server_per_user(names: list[str]) -> None:
    """What the server says is per-user (its ``plugins`` frame)."""
    global _server_per_user
    _server_per_user = frozenset(n for n in names if isinstance(n, str))


def tuple_type(name: str) -> type[Tuple]:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownTupleType(f"unknown tuple type {name!r}") from None


def orm_tuple(name: str):
    """Class decorator: make an SQLAlchemy mapped class travel as tuple ``name``.

    Its column attributes become the tuple's fields; encoding takes them from
    the row, decoding builds a new (transient) instance of the mapped class.
    """
    import sqlalchemy

    def declare(mapped: type) -> type:
        annotations, defaults = {}, {}
        for attr in sqlalchemy.inspect(mapped).column_attrs:
            try:
                kind = attr.columns[0].type.python_type
            except NotImplementedError:
                kind = Any
            annotations[attr.key], defaults[attr.key] = kind | None, None
        mirror = _TupleMeta(mapped.__name__, (Tuple,), {
            "__annotations__": annotations, **defaults, "__orm_class__": mapped,
            "__module__": mapped.__module__, "__qualname__": mapped.__qualname__}, tag=name)
        _orm_mirrors[mapped] = mirror
        mapped.__tuple_type__ = mirror
        return mapped
    return declare


def _enc_hook(obj: Any) -> Any:
    mirror = _orm_mirrors.get(type(obj))
    if mirror is None:
        raise TypeError(f"{type(obj).__name__} is not a tuple, nor JSON data")
    return mirror(**{f: getattr(obj, f) for f in mirror.__struct_fields__})


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def encode(value: Any) -> bytes:
    """JSON bytes of a tuple, a list or dict of tuples, or plain JSON data."""
    try:
        return _encoder.encode(value)
    except (TypeError, msgspec.EncodeError) as e:
        raise TupleError(f"cannot encode: {e}") from None


class _Unused(Tuple, tag="peek.vortex.Unused"):
    """Keeps the decoder's union at two types or more, so that msgspec always
    requires the type name (with one type it would accept an object without)."""


def _the_decoder() -> msgspec.json.Decoder:
    """Built on first use after a tuple type registers (``decode`` reads
    ``_decoder`` itself first: one call less per message)."""
    global _decoder
    with _lock:
        if _decoder is None:
            one = Union[tuple(_registry.values())]  # noqa: UP007 (built at runtime)
            _decoder = msgspec.json.Decoder(Union[one, list[one]])
        return _decoder


def _to_orm(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_orm(v) for v in value]
    mapped = getattr(type(value), "__orm_class__", None)
    if mapped is None:
        return value
    return mapped(**{f: getattr(value, f) for f in value.__struct_fields__})


def decode(data: bytes | str) -> Any:
    """The tuple (or list of tuples) ``data`` encodes."""
    try:
        value = (_decoder or _the_decoder()).decode(data)
    except msgspec.ValidationError as e:
        message = str(e)
        if message.startswith("Invalid value") and message.endswith(f"$.{TYPE_FIELD}`"):
            name = message.split("'", 2)[1] if "'" in message else message
            raise UnknownTupleType(f"unknown tuple type {name!r}") from None
        if f"missing required field `{TYPE_FIELD}`" in message:
            raise TupleError(f"not a tuple: an object without its type name "
                             f"({TYPE_FIELD})") from None
        raise TupleError(f"not a valid tuple: {message}") from None
    except msgspec.DecodeError as e:
        raise TupleError(f"not valid JSON: {e}") from None
    return _to_orm(value) if _orm_mirrors else value


def from_builtins(value: Any) -> Any:
    """Rebuild the tuples inside decoded plain JSON (RPC arguments and
    results mix tuples with plain values): each object carrying a type name
    becomes its tuple, checked like :func:`decode` checks it."""
    if isinstance(value, list):
        return [from_builtins(v) for v in value]
    if not isinstance(value, dict):
        return value
    name = value.get(TYPE_FIELD)
    if not isinstance(name, str):
        return {k: from_builtins(v) for k, v in value.items()}
    try:
        return _to_orm(msgspec.convert(value, tuple_type(name)))
    except msgspec.ValidationError as e:
        raise TupleError(f"not a valid {name}: {e}") from None
