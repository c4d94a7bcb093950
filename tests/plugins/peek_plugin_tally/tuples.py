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


class MyTally(Tuple, tag="peek_plugin_tally.MyTally", per_user=True):
    """Per user (tests/test_device_sign_in.py): the provider answers with the
    user the selector reached the server with."""
    user: str
    note: str = ""


class WhoAmI(Tuple, tag="peek_plugin_tally.WhoAmI"):
    """An action answered with the ``ctx.user`` it reached the server with,
    after ``pause_s`` (to hold it in flight)."""

    pause_s: float = 0
