"""The implementation of the published API (../../api.py): each call goes to
the directory the ``directory`` setting names, read at the call, so a change
of the setting applies at once."""

from __future__ import annotations

import threading

from ...api import TABLE_DIRECTORY, DirectoryUnavailable, UserApi, UserDirectory
from ...tuples import UserTuple


class UserApiImpl(UserApi):
    def __init__(self, platform, table: UserDirectory):
        self._platform = platform
        self._lock = threading.Lock()
        self._directories: dict[str, UserDirectory] = {TABLE_DIRECTORY: table}

    # Which directory answers ---------------------------------------------

    def directory_name(self) -> str:
        return (self._platform.settings.get("directory") or TABLE_DIRECTORY).strip()

    def directory_names(self) -> list[str]:
        with self._lock:
            return sorted(self._directories)

    def _directory(self) -> UserDirectory:
        name = self.directory_name()
        with self._lock:
            directory = self._directories.get(name)
        if directory is None:
            self._platform.log.error("the user directory %r (setting 'directory') is not "
                                     "registered; registered: %s", name,
                                     ", ".join(self.directory_names()))
            raise DirectoryUnavailable(f"the user directory {name!r} is not available: no "
                                       "running plugin has registered it")
        return directory

    def register_directory(self, name: str, directory: UserDirectory) -> None:
        if not isinstance(directory, UserDirectory):
            raise ValueError(f"{directory!r} is not a peek_core_user.api.UserDirectory")
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"{name!r} is not a usable directory name")
        with self._lock:
            if name == TABLE_DIRECTORY:
                raise ValueError(f"{TABLE_DIRECTORY!r} is the built-in directory")
            if name in self._directories:
                raise ValueError(f"a user directory named {name!r} is already registered")
            self._directories[name] = directory
        self._platform.log.info("user directory %r registered", name)

    def unregister_directory(self, name: str) -> None:
        with self._lock:
            if name == TABLE_DIRECTORY or self._directories.pop(name, None) is None:
                return
        self._platform.log.info("user directory %r withdrawn", name)

    # The questions ---------------------------------------------------------

    def find_user(self, name: str) -> UserTuple | None:
        return self._directory().find(name)

    def check_password(self, name: str, password: str) -> UserTuple | None:
        user = self._directory().check_password(name, password)
        # Whatever a backend does, a disabled user never signs in.
        return user if user is not None and user.enabled else None

    def users_in_group(self, group: str, include_disabled: bool = False) -> list[UserTuple]:
        return [u for u in self._directory().in_group(group) if include_disabled or u.enabled]

    def list_users(self, include_disabled: bool = False) -> list[UserTuple]:
        return [u for u in self._directory().list_users() if include_disabled or u.enabled]
