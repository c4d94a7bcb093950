from flask import Blueprint, render_template

from ..lifecycle import LoggingHook


class ClientHook(LoggingHook):
    def load(self) -> None:
        super().load()
        for site in ("mobile", "desktop"):
            bp = Blueprint(site, __name__, template_folder="../../templates",
                           static_folder="../../static")
            bp.add_url_rule("/", "index", lambda site=site: render_template(
                f"peek_plugin_noop/{site}.html"))
            self.platform.add_blueprint(bp, site)
