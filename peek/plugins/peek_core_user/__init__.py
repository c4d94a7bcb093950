"""peek_core_user: the platform's users (people who use the mobile and
desktop sites), their groups and passwords, behind a swappable directory.

Other plugins on the server use it through its public API (``api.py``):
``self.platform.get_other_plugin_api("peek_core_user")``.  See docs/core_user.md.
"""

from peek.plugin_api import PluginHook


def server_entry_hook() -> type[PluginHook]:
    from ._private.server.hook import ServerHook
    return ServerHook
