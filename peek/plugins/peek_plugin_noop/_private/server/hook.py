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
        self._api = NoopApi(self.platform.db_session)
        admin = Blueprint("admin", __name__, template_folder="../../templates")
        admin.add_url_rule("/", "index", self._index)
        admin.add_url_rule("/panel", "panel", self._panel)
        self.platform.add_blueprint(admin, "admin")
        self.platform.add_to_slot("admin.dashboard", "Noop",
                                  template="peek_plugin_noop/dashboard_panel.html",
                                  priority=900)
        self.platform.add_table_editor(NoopItem, title="Noop items", priority=900)

    def _index(self) -> str:
        settings = self.platform.settings.all()
        return render_template("peek_plugin_noop/admin.html", settings=settings,
                               count=self._api.item_count())

    def _panel(self) -> str:
        return render_template("peek_plugin_noop/_panel.html", count=self._api.item_count())

    @property
    def public_api(self) -> NoopApi:
        return self._api
