"""peek_core_user: the platform's users (people who use the mobile and
desktop sites), their groups and passwords, behind a swappable directory,
and their sign-in on the devices.

Other plugins use it through its public API (``api.py``):
``self.platform.get_other_plugin_api("peek_core_user")`` gives a ``UserApi``
on the server and a ``UserClientApi`` on the client service.  See
docs/core_user.md.
"""

from peek.plugin_api import PluginHook


def server_entry_hook() -> type[PluginHook]:
    from ._private.server.hook import ServerHook
    return ServerHook


def client_entry_hook() -> type[PluginHook]:
    from ._private.client.hook import ClientHook
    return ClientHook
