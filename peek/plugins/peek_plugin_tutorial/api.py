"""The tutorial plugin's published server API: what other plugins on the
server get from ``self.platform.get_other_plugin_api("peek_plugin_tutorial")``."""

from abc import ABC, abstractmethod

from .tuples import StringIntTuple, TutorialTuple


class TutorialApi(ABC):
    @abstractmethod
    def do_something_good(self) -> TutorialTuple:
        """A TutorialTuple with the greeting setting and a summary of the rows."""

    @abstractmethod
    def string_ints(self) -> list[StringIntTuple]:
        """Every StringInt row, by id."""
