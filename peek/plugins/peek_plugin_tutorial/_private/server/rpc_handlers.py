"""The server's side of the RPCs the agent calls (declared in ../../rpcs.py)."""

from ...tuples import StringIntTuple
from ..storage import StringInt

#: The running server hook, while it is loaded.
HOOK = None


def add_ints(a: int, b: int) -> int:
    HOOK.platform.log.info("agent asked to add %s + %s", a, b)
    HOOK.status.add("add_ints", f"the agent asked {a} + {b} = {a + b}")
    return a + b


def report_status(message: str) -> str:
    HOOK.platform.log.info("agent status: %s", message)
    HOOK.status.add("report_status", f"the agent says: {message}")
    HOOK.agent_reported()
    return "thanks"


def insert_string_int(string1: str, int1: int) -> StringIntTuple:
    if HOOK.platform.settings.get("capitals_on_insert"):
        string1 = string1.upper()
    with HOOK.platform.db_session() as session:
        row = StringInt(string1=string1, int1=int1)
        session.add(row)
        session.commit()
        inserted = StringIntTuple(id=row.id, string1=row.string1, int1=row.int1)
    HOOK.platform.notify(StringIntTuple)
    HOOK.status.add("insert_string_int", f"the agent inserted row {inserted.id}: "
                                         f"{inserted.string1} = {inserted.int1}")
    return inserted
