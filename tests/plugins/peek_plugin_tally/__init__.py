"""A test plugin using the whole vortex: named tallies that devices watch and
add to, and RPCs between the server, client and agent services."""


def server_entry_hook():
    from peek_plugin_tally._private.server import ServerHook
    return ServerHook


def client_entry_hook():
    from peek_plugin_tally._private.client import ClientHook
    return ClientHook


def agent_entry_hook():
    from peek_plugin_tally._private.agent import AgentHook
    return AgentHook
