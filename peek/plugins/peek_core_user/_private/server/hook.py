"""peek_core_user on the server: the user API, the sign-in RPCs the client
services call, and the admin pages (``admin.py``)."""

from peek.plugin_api import PluginHook

from ... import rpcs
from ...tuples import RevokedSessionTuple
from .. import tokens
from . import rpc_handlers
from .admin import AdminPages
from .api import UserApiImpl
from .sessions import SignIns
from .table_directory import TableDirectory


class ServerHook(PluginHook):
    def load(self) -> None:
        self._api = UserApiImpl(self.platform, TableDirectory(self.platform.db_session))
        self.platform.add_to_slot("admin.menu", "Sign-ins",
                                  url=f"/{self.platform.plugin_name}/sessions", priority=201)
        # Device sign-in: the RPCs the client services call, and the revocations
        # they watch.
        self.sign_ins = SignIns(self.platform, self._api,
                                self.platform.signing_key(tokens.KEY_PURPOSE))
        self.platform.add_tuple_provider(RevokedSessionTuple, self.sign_ins.revoked_recently)
        for function in (rpcs.sign_in, rpcs.refresh, rpcs.sign_out, rpcs.lookup):
            self.platform.serve_rpc(function)
        self._running = rpc_handlers.RUNNING = rpc_handlers.Running(self.sign_ins, self._api)
        self.platform.add_blueprint(AdminPages(self.platform, self._api, self.sign_ins)
                                    .blueprint(), "admin")
        self.platform.log.info("users loaded on the %s service", self.platform.service)

    def start(self) -> None:
        self.platform.log.info("users started; directory %r", self._api.directory_name())

    def unload(self) -> None:
        if rpc_handlers.RUNNING is self._running:
            rpc_handlers.RUNNING = None

    @property
    def public_api(self) -> UserApiImpl:
        return self._api
