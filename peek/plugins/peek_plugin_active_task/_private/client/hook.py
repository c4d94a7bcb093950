from flask import Blueprint, render_template

from peek.plugin_api import PluginHook

PLUGIN = "peek_plugin_active_task"


class ClientHook(PluginHook):
    def load(self) -> None:
        # The signed-in user's tasks and their unread count, kept live (the
        # platform fills in the user of each page's selector).
        self.platform.add_live_partial("tasks", f"{PLUGIN}/_tasks.html")
        self.platform.add_live_partial("desktop_tasks", f"{PLUGIN}/_desktop_tasks.html")
        self.platform.add_live_partial("badge", f"{PLUGIN}/_badge.html")
        for site, prefix in (("mobile", ""), ("desktop", "/desktop")):
            bp = Blueprint(site, __name__, template_folder="../../templates",
                           static_folder="../../static")
            bp.add_url_rule("/", "index", lambda site=site: render_template(
                f"{PLUGIN}/{site}.html"))
            self.platform.add_blueprint(bp, site)
            # The home tile, with the live badge inside it (it replaces the
            # tile the manifest would give).
            self.platform.add_to_slot(f"{site}.home", "Tasks", url=f"{prefix}/{PLUGIN}/",
                                      icon=f"{prefix}/{PLUGIN}/static/icon.svg",
                                      template=f"{PLUGIN}/_tile_badge.html", priority=20)
