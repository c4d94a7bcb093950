"""The published API of peek_core_user, for other plugins on the server:

    users = self.platform.get_other_plugin_api("peek_core_user")   # a UserApi
    user = users.check_password("alice", typed)    # a UserTuple, or None

on the client service (``UserClientApi``: who is signed in on a request or
a device connection), the errors of device sign-in, and the interface a
user directory backend implements (``UserDirectory``).
Plugins calling ``UserApi`` never learn which directory answered: the
``directory`` setting chooses it, so a table of users today can become LDAP
tomorrow without changing them.  See docs/core_user.md.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any

from .tuples import UserTuple

__all__ = ["UserLookup", "UserApi", "UserClientApi", "UserDirectory", "UserTuple", "DirectoryUnavailable",
           "SignInRefused", "SignInSlowedDown", "TABLE_DIRECTORY"]

#: The name of the built-in directory: the users kept in core_user's tables
#: and edited on the admin site's Users page.
TABLE_DIRECTORY = "table"


class DirectoryUnavailable(LookupError):
    """The ``directory`` setting names a backend that is not registered (its
    plugin is not running), or the backend cannot be reached; the message
    says which.  Nobody can be found or signed in until it is back."""


class UserDirectory(ABC):
    """Where users, their groups and their passwords come from.

    A backend answers these four questions and nothing else; names are
    compared without regard to case.  Every method may raise
    :class:`DirectoryUnavailable` when the backend cannot answer (a server
    down); returning None or an empty list means "no such user"."""

    @abstractmethod
    def find(self, name: str) -> UserTuple | None:
        """The user called ``name`` (enabled or not), or None."""

    @abstractmethod
    def check_password(self, name: str, password: str) -> UserTuple | None:
        """The user if ``name`` is an enabled user and ``password`` is theirs,
        else None, the same None whichever part was wrong (and taking about as
        long), so that a caller cannot learn which names exist."""

    @abstractmethod
    def in_group(self, group: str) -> list[UserTuple]:
        """Every user (enabled or not) in ``group``, by name."""

    @abstractmethod
    def list_users(self) -> list[UserTuple]:
        """Every user (enabled or not), by name."""


class UserLookup(ABC):
    """Finding users and checking passwords, on the server and the client."""

    @abstractmethod
    def find_user(self, name: str) -> UserTuple | None:
        """The user called ``name``, enabled or not (see ``UserTuple.enabled``),
        or None."""

    @abstractmethod
    def check_password(self, name: str, password: str) -> UserTuple | None:
        """The user if ``name`` and ``password`` are right and the user is
        enabled, else None: never which part was wrong."""

    @abstractmethod
    def users_in_group(self, group: str, include_disabled: bool = False) -> list[UserTuple]:
        """The users in ``group``, by name; disabled ones only if asked."""

    @abstractmethod
    def list_users(self, include_disabled: bool = False) -> list[UserTuple]:
        """Every user, by name; disabled ones only if asked."""


class UserApi(UserLookup):
    """What ``get_other_plugin_api("peek_core_user")`` returns on the server."""

    # For plugins that provide a directory backend (an LDAP plugin, say) ------

    @abstractmethod
    def register_directory(self, name: str, directory: UserDirectory) -> None:
        """Offer ``directory`` under ``name``; it answers once the ``directory``
        setting is ``name``.  Call it in your hook's ``start()`` and
        :meth:`unregister_directory` in its ``stop()``.  ValueError for the
        built-in name, a name taken, or an object that is not a UserDirectory."""

    @abstractmethod
    def unregister_directory(self, name: str) -> None:
        """Withdraw the backend registered as ``name`` (nothing if there is none)."""


class UserClientApi(UserLookup):
    """What ``get_other_plugin_api("peek_core_user")`` returns on the client
    service: who is signed in on the mobile and desktop sites, the device
    websocket and the device REST API; and the :class:`UserLookup` methods,
    each an RPC to the server (call them from a request or a thread of your
    own; they raise ``RpcError`` while the server cannot be reached)."""

    @abstractmethod
    def current_user(self) -> UserTuple | None:
        """The user signed in on the current request (a page, a REST call, a
        websocket handshake), or None: nobody, or outside a request."""

    @abstractmethod
    def user_of_connection(self, connection: Any) -> UserTuple | None:
        """The user signed in on a device websocket or live page connection
        (what the platform gives a plugin as ``connection``), or None."""


# Device sign-in errors (raised by the sign-in RPCs on the server, and again
# on the client service that called them) ----------------------------------

class SignInRefused(PermissionError):
    """Wrong name or password (never which), or a refresh token that is
    unknown, expired, revoked or already used."""


class SignInSlowedDown(PermissionError):
    """Too many failed sign-ins in a row for this name or from this address:
    refused without checking the password; try again in ``retry_after``
    seconds."""

    def __init__(self, retry_after: "int | str"):
        if isinstance(retry_after, str):  # rebuilt from its message by the RPC caller
            found = re.search(r"(\d+) s", retry_after)
            retry_after = int(found.group(1)) if found else 1
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"too many failed sign-ins; try again in {self.retry_after} s")
