from sqlalchemy import text

from peek.plugin_api import PluginHook
from peek_plugin_tally import rpcs
from peek_plugin_tally.tuples import AddToTally, AskAgent, Tally

PLATFORM = None
ADD = text("INSERT INTO pl_tally.tally (name, count) VALUES (:name, :amount) "
           "ON CONFLICT (name) DO UPDATE SET count = tally.count + :amount RETURNING count")


def read_tallies(name=None, padding=0):
    with PLATFORM.db_session() as session:
        rows = session.execute(text(
            "SELECT name, count FROM pl_tally.tally WHERE :name IS NULL OR name = :name "
            "ORDER BY name"), {"name": name}).all()
    return [Tally(name=n, count=c, padding="x" * padding) for n, c in rows] or (
        [Tally(name=name, count=0, padding="x" * padding)] if name else [])


class ServerHook(PluginHook):
    def load(self):
        global PLATFORM
        PLATFORM = self.platform
        self.platform.add_tuple_provider(Tally, self.provide)
        self.platform.add_action_processor(self.add, AddToTally)
        self.platform.add_action_processor(self.ask_agent, AskAgent)
        for function in (rpcs.read_tally, rpcs.agent_only, rpcs.slow, rpcs.fail):
            self.platform.serve_rpc(function)
        from peek_plugin_tally._private.per_user import register
        register(self.platform)

    def provide(self, selector):
        if selector.filter.get("broken"):
            raise RuntimeError("this selector always fails")
        return read_tallies(selector.filter.get("name"), selector.filter.get("padding", 0))

    def add(self, action, ctx):
        if action.amount < 0:
            raise ValueError("a tally only grows")
        count = ctx.session.execute(ADD, {"name": action.name,
                                          "amount": action.amount}).scalar()
        ctx.after_commit(lambda: self.platform.notify(Tally))
        return Tally(name=action.name, count=count)

    def ask_agent(self, action, ctx):
        return self.platform.call_rpc(rpcs.agent_probe, action.rpc, action.args)
