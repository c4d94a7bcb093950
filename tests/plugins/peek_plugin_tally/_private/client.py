from flask import Blueprint, Response, render_template

from peek.plugin_api import PluginHook, encode
from peek_plugin_tally import rpcs


class ClientHook(PluginHook):
    def load(self):
        platform = self.platform
        platform.add_live_partial("tally", "peek_plugin_tally/tally_partial.html")
        bp = Blueprint("tally", __name__, template_folder="../templates")

        @bp.route("/")
        def page():
            return render_template("peek_plugin_tally/page.html")

        @bp.route("/offline")
        def offline_page():
            return render_template("peek_plugin_tally/offline.html")

        @bp.route("/rpc/<name>/<arg>")
        def call(name, arg):
            try:
                body = {"result": platform.call_rpc(getattr(rpcs, name), arg)}
            except Exception as e:
                body = {"error": type(e).__name__, "message": str(e)}
            return Response(encode(body), mimetype="application/json")

        platform.add_blueprint(bp, "mobile")
        from peek_plugin_tally._private.per_user import register_client
        register_client(platform)
