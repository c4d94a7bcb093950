from flask import Blueprint, render_template

from ..lifecycle import LoggingHook


class ClientHook(LoggingHook):
    def load(self) -> None:
        super().load()
        # The rows, kept live on every page that places them with vortex_live.
        self.platform.add_live_partial("string_ints", "peek_plugin_tutorial/_string_ints.html")
        for site in ("mobile", "desktop"):
            bp = Blueprint(site, __name__, template_folder="../../templates",
                           static_folder="../../static")
            bp.add_url_rule("/", "index", lambda site=site: render_template(
                f"peek_plugin_tutorial/{site}.html"))
            self.platform.add_blueprint(bp, site)
