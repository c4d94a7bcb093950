from flask import Blueprint, render_template
from sqlalchemy import func, select

from ..lifecycle import LoggingHook
from ..storage import NoopItem


class NoopApi:
    """What other plugins get from get_other_plugin_api("peek_plugin_noop")."""

    def __init__(self, session_factory):
        self._session_factory = session_factory

    def item_count(self) -> int:
        with self._session_factory() as session:
            return session.scalar(select(func.count()).select_from(NoopItem))


class ServerHook(LoggingHook):
    def load(self) -> None:
        super().load()
        admin = Blueprint("admin", __name__, template_folder="../../templates")
        admin.add_url_rule("/", "index", lambda: render_template(
            "peek_plugin_noop/admin.html", count=self.public_api.item_count()))
        self.platform.add_blueprint(admin, "admin")
        self._api = NoopApi(self.platform.db_session)

    @property
    def public_api(self) -> NoopApi:
        return self._api
