"""A per-user tuple type only the server declares (its module is imported on
the server alone), for tests/test_device_sign_in.py: the client service must
still give each device only its own user's data."""

from peek.plugin_api import Tuple


class ServerNote(Tuple, tag="peek_plugin_tally.ServerNote", per_user=True):
    user: str


def register(platform):
    platform.add_tuple_provider(
        ServerNote, lambda selector: [ServerNote(user=selector.filter["user"])])
