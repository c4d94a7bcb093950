"""TupleSelector: a tuple type name and a filter, the unit of subscription."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import msgspec

from peek.vortex.names import tuple_name_problem

__all__ = ["TupleSelector", "for_user", "per_user_allowed", "USER_KEY"]

#: The filter key of a per-user selector that names its user.
USER_KEY = "user"

_canonical = msgspec.json.Encoder(order="sorted")


class TupleSelector(msgspec.Struct, dict=True):
    """What a subscriber watches: every tuple of type ``name`` that ``filter`` selects.

    Two selectors with the same name and filter are the same subscription,
    whatever the order of the filter's keys: :attr:`key` is their canonical
    JSON (keys sorted, no spaces).
    """

    name: str
    filter: dict[str, Any] = {}

    def __post_init__(self) -> None:
        problem = tuple_name_problem(self.name)
        if problem is not None:
            raise msgspec.ValidationError(f"a selector's name: {problem}")

    @cached_property
    def key(self) -> bytes:
        return _canonical.encode(self)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TupleSelector) and other.key == self.key

    @classmethod
    def of(cls, tuple_type: type | str, **filter: Any) -> "TupleSelector":
        """A selector for a tuple class (or type name) and keyword filter."""
        if not isinstance(tuple_type, str):  # a tuple class, or a mapped ORM class
            tuple_type = getattr(tuple_type, "__tuple_type__", tuple_type)
            name = tuple_type.__struct_config__.tag
        else:
            name = tuple_type
        return cls(name=name, filter=filter)


def for_user(selector: TupleSelector, user: str | None) -> TupleSelector:
    """``selector`` as the client service sends it upstream for a device
    signed in as ``user`` (None: nobody signed in).  A per-user tuple type's
    selector always carries the user, whatever the device put there, so a
    device never sees another user's data; other selectors are unchanged."""
    from peek.vortex.tuples import is_per_user

    if not is_per_user(selector.name):
        return selector
    if selector.filter.get(USER_KEY, ...) == user:
        return selector
    filter = {k: v for k, v in selector.filter.items() if k != USER_KEY}
    if user is not None:
        filter[USER_KEY] = user
    return TupleSelector(name=selector.name, filter=filter)


def per_user_allowed(selector: TupleSelector, user: str | None) -> bool:
    """Whether a subscription that reached the server for ``user`` may watch
    ``selector``: a per-user type's selector names that user, or nobody (it is
    then answered "sign in"), never another."""
    from peek.vortex.tuples import is_per_user

    if not is_per_user(selector.name):
        return True
    named = selector.filter.get(USER_KEY)
    return named is None or named == user
