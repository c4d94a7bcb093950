"""The tutorial plugin: one small example of each part of the plugin API, on
every service.  docs/tutorial.md builds it step by step."""

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
