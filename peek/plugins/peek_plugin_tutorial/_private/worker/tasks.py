"""The tutorial plugin's worker task: run on the Dask workers, in blocks."""

from sqlalchemy import select

from peek.plugin_api import task_platform

from ..storage import StringInt


def read_ints(block: list[int]) -> list[int]:
    """One block of the job: the int of each row id in ``block``, in order
    (0 for a row deleted meanwhile)."""
    platform = task_platform()
    with platform.db_session() as session:
        ints = dict(session.execute(
            select(StringInt.id, StringInt.int1).where(StringInt.id.in_(block))).all())
    platform.log.info("tutorial block of %s rows on the worker", len(block))
    return [ints.get(row_id, 0) for row_id in block]
