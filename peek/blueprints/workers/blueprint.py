from flask import Blueprint

from peek.blueprints.workers import controllers, dashboard_proxy
from peek.extensions import csrf, sock
from peek.workers.cluster import DASHBOARD_PREFIX

bp = Blueprint("workers", __name__, template_folder="templates")
bp.add_url_rule("/workers", view_func=controllers.workers_page)
bp.add_url_rule("/workers/status", view_func=controllers.status_panel)
# Behind sign-in like every admin page; Bokeh's own requests carry no CSRF token.
bp.add_url_rule(f"{DASHBOARD_PREFIX}/<path:path>",
                view_func=csrf.exempt(dashboard_proxy.proxy_http),
                methods=["GET", "POST", "HEAD"])
sock.route(f"{DASHBOARD_PREFIX}/<path:path>/ws", bp=bp)(dashboard_proxy.proxy_websocket)
