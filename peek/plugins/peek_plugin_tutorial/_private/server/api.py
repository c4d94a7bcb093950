"""The implementation of the published server API (../../api.py)."""

import datetime

from sqlalchemy import select

from ...api import TutorialApi
from ...tuples import StringIntTuple, TutorialTuple
from ..storage import StringInt


class TutorialApiImpl(TutorialApi):
    def __init__(self, platform):
        self._platform = platform

    def string_ints(self) -> list[StringIntTuple]:
        with self._platform.db_session() as session:
            rows = session.scalars(select(StringInt).order_by(StringInt.id)).all()
            return [StringIntTuple(id=r.id, string1=r.string1, int1=r.int1) for r in rows]

    def do_something_good(self) -> TutorialTuple:
        rows = self.string_ints()
        return TutorialTuple(
            message=self._platform.settings.get("greeting"),
            counts={"rows": len(rows), "total": sum(r.int1 for r in rows)},
            items=[r.string1 for r in rows],
            made=datetime.datetime.now(datetime.timezone.utc))
