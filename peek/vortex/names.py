"""The rule every tuple type name follows: ``<package>.<Name>``, dotted
Python identifiers (``peek_plugin_tutorial.StringIntTuple``).

Tuple classes are refused at declaration, selectors and actions at the
device edge, and the OpenAPI document states the same pattern.
"""

from __future__ import annotations

import re

TUPLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
TUPLE_NAME_MAX = 200

_tuple_name = re.compile(TUPLE_NAME_PATTERN)


def tuple_name_problem(name: object) -> str | None:
    """Why ``name`` is not a tuple type name, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "a tuple type name is a non-empty string"
    if len(name) > TUPLE_NAME_MAX:
        return f"a tuple type name has at most {TUPLE_NAME_MAX} characters"
    if not _tuple_name.fullmatch(name):
        return (f"{name!r} is not a tuple type name: dotted Python identifiers, "
                "'<package>.<Name>'")
    return None
