"""The noop plugin: runs on every service, does nothing useful, logs every step.

It is the smoke test of the whole platform and the smallest complete example
of a plugin (see docs/plugins.md).
"""

from peek.plugin_api import PluginHook


def server_entry_hook() -> type[PluginHook]:
    from ._private.server.hook import ServerHook
    return ServerHook


def client_entry_hook() -> type[PluginHook]:
    from ._private.client.hook import ClientHook
    return ClientHook


def agent_entry_hook() -> type[PluginHook]:
    from ._private.agent.hook import AgentHook
    return AgentHook


def worker_entry_hook() -> type[PluginHook]:
    from ._private.worker.hook import WorkerHook
    return WorkerHook
