import base64
import random
import time

from sqlalchemy import text

from peek.plugin_api import PluginHook
from peek_plugin_tally import rpcs
from peek_plugin_tally.tuples import AddToTally, AskAgent, Tally

PLATFORM = None
# The upsert of an AddToTally runs with the driver's own cursor on the
# connection of the action's transaction (ctx.session's), so that it commits
# with the action's answer or not at all; it is prepared once on each database
# connection (a prepared statement is the connection's, and outlives a
# rollback).  Per action that is no parse and plan in PostgreSQL, and none of
# SQLAlchemy's statement and result objects, which cost more than the round
# trip itself.
PREPARE_ADD = ("PREPARE peek_plugin_tally_add (varchar, integer) AS "
               "INSERT INTO pl_tally.tally (name, count) VALUES ($1, $2) "
               "ON CONFLICT (name) DO UPDATE SET count = tally.count + $2 RETURNING count")
ADD = "EXECUTE peek_plugin_tally_add (%s, %s)"
#: In the connection's info (SQLAlchemy's, kept for as long as the database
#: connection lives): the upsert is prepared on it.
PREPARED = "peek_plugin_tally.add_prepared"


def noise(length: int, seed: str) -> str:
    """``length`` letters that do not compress, the same for the same seed."""
    return base64.b64encode(random.Random(seed).randbytes(length))[:length].decode()


def read_tallies(name=None, padding=0, noisy=False):
    with PLATFORM.db_session() as session:
        rows = session.execute(text(
            "SELECT name, count FROM pl_tally.tally WHERE :name IS NULL OR name = :name "
            "ORDER BY name"), {"name": name}).all()
    fill = noise(padding, name or "") if noisy else "x" * padding
    return [Tally(name=n, count=c, padding=fill) for n, c in rows] or (
        [Tally(name=name, count=0, padding=fill)] if name else [])


class ServerHook(PluginHook):
    def load(self):
        global PLATFORM
        PLATFORM = self.platform
        self.platform.add_tuple_provider(Tally, self.provide, devices=True)
        self.platform.add_action_processor(self.add, AddToTally, devices=True)
        self.platform.add_action_processor(self.ask_agent, AskAgent, devices=True)
        for function in (rpcs.read_tally, rpcs.agent_only, rpcs.slow, rpcs.fail):
            self.platform.serve_rpc(function)
        from peek_plugin_tally._private import per_user, server_only
        per_user.register(self.platform)
        server_only.register(self.platform)

    def provide(self, selector):
        if selector.filter.get("broken"):
            raise RuntimeError("this selector always fails")
        time.sleep(selector.filter.get("pause_s", 0))  # a provider slow to answer
        return read_tallies(selector.filter.get("name"), selector.filter.get("padding", 0),
                            selector.filter.get("noisy", False))

    def add(self, action, ctx):
        if action.amount < 0:
            raise ValueError("a tally only grows")
        connection = ctx.session.connection().connection
        with connection.cursor() as cursor:
            if not connection.info.get(PREPARED):
                cursor.execute(PREPARE_ADD)
                connection.info[PREPARED] = True
            cursor.execute(ADD, (action.name, action.amount))
            count = cursor.fetchone()[0]
        ctx.after_commit(lambda: self.platform.notify(Tally))
        return Tally(name=action.name, count=count)

    def ask_agent(self, action, ctx):
        return self.platform.call_rpc(rpcs.agent_probe, action.rpc, action.args)
