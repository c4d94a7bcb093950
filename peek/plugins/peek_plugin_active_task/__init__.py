"""peek_plugin_active_task: tasks other plugins give users, shown live on
their phones and desktops, with a count of the unread ones on the home tile.

Other plugins on the server add, change and remove tasks through the public
API (``api.py``): ``self.platform.get_other_plugin_api("peek_plugin_active_task")``.
See docs/active_task.md.
"""

from peek.plugin_api import PluginHook


def server_entry_hook() -> type[PluginHook]:
    from ._private.server.hook import ServerHook
    return ServerHook


def client_entry_hook() -> type[PluginHook]:
    from ._private.client.hook import ClientHook
    return ClientHook
