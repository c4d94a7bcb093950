"""A per-user tuple type only the server declares (its module is imported on
the server alone), for tests/test_device_sign_in.py: the client service must
still give each device only its own user's data."""

from peek.plugin_api import Tuple


class ServerNote(Tuple, tag="peek_plugin_tally.ServerNote", per_user=True):
    user: str


class Internal(Tuple, tag="peek_plugin_tally.Internal"):
    note: str


class InternalAction(Tuple, tag="peek_plugin_tally.InternalAction"):
    pass


def register(platform):
    platform.add_tuple_provider(
        ServerNote, lambda selector: [ServerNote(user=selector.filter["user"])], devices=True)
    # For the plugin's own code only: devices are refused (tests/test_device_edge.py).
    platform.add_tuple_provider(Internal, lambda selector: [Internal(note="for plugins")])
    platform.add_action_processor(lambda action, ctx: {"done": True}, InternalAction)
