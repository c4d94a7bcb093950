"""peek_core_user on the client service: device sign-in (its routes are in
``views.py``) and the client API."""

from __future__ import annotations

from peek.plugin_api import PluginHook

from ...tuples import RevokedSessionTuple
from .. import tokens
from .api import UserClientApiImpl
from .sign_in import DeviceSignInImpl
from .views import blueprint


class ClientHook(PluginHook):
    def load(self) -> None:
        self.sign_in = DeviceSignInImpl(self.platform,
                                        self.platform.signing_key(tokens.KEY_PURPOSE))
        self._api = UserClientApiImpl(self.platform)
        self.platform.add_blueprint(blueprint(self.platform, self.sign_in), "mobile")

    def start(self) -> None:
        self.platform.set_device_sign_in(self.sign_in)
        self._unwatch = self.platform.watch(RevokedSessionTuple, self.sign_in.revoked)
        self.platform.log.info("device sign-in started: devices sign in at %s",
                               self.sign_in.sign_in_url)

    def stop(self) -> None:
        unwatch = getattr(self, "_unwatch", None)
        if unwatch is not None:
            unwatch()
            self._unwatch = None

    @property
    def public_api(self) -> UserClientApiImpl:
        return self._api
