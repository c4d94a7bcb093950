"""The tutorial plugin's tuples: the data its services and devices exchange.

The platform imports this module on every service the plugin runs on, so any
of them can decode these tuples, whoever sent them.
"""

import datetime
from typing import Any

from peek.plugin_api import Tuple


class TutorialTuple(Tuple, tag="peek_plugin_tutorial.TutorialTuple"):
    """A tuple with one field of each richer kind: what the public API returns."""
    message: str
    counts: dict[str, int] = {}
    items: list[Any] = []
    made: datetime.datetime | None = None


class StringIntTuple(Tuple, tag="peek_plugin_tutorial.StringIntTuple"):
    """One row of pl_tutorial.string_int, as devices see it."""
    id: int
    string1: str
    int1: int = 0


# Actions: what a device asks the server to do to one row.

class StringCapToggleAction(Tuple, tag="peek_plugin_tutorial.StringCapToggleAction"):
    """Toggle the row's string between capitals and lower case."""
    id: int


class AddIntValueAction(Tuple, tag="peek_plugin_tutorial.AddIntValueAction"):
    """Add ``offset`` to the row's int (1 increments, -1 decrements)."""
    id: int
    offset: int = 1
