from peek.plugin_api import Tuple


class Tally(Tuple, tag="peek_plugin_tally.Tally"):
    name: str
    count: int = 0
    padding: str = ""


class AddToTally(Tuple, tag="peek_plugin_tally.AddToTally"):
    name: str
    amount: int = 1


class AskAgent(Tuple, tag="peek_plugin_tally.AskAgent"):
    """Makes the server call the agent, which calls the server back."""
    rpc: str
    args: list = []
