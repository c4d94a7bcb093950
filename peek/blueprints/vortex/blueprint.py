"""The client service's device API: websockets for native apps and HTMX
pages, REST, and the OpenAPI document (see docs/protocol.md)."""

from flask import Blueprint

from peek.blueprints.vortex import controllers, rest
from peek.extensions import sock

bp = Blueprint("vortex", __name__, url_prefix="/vortex")
sock.route("/ws", bp=bp)(controllers.device_socket)
sock.route("/live", bp=bp)(controllers.live_socket)
bp.add_url_rule("/api/data", view_func=rest.data)
bp.add_url_rule("/api/actions", view_func=rest.action, methods=["POST"])
bp.add_url_rule("/api/openapi.json", view_func=rest.openapi)
bp.add_url_rule("/stats", view_func=rest.stats)
bp.register_error_handler(413, rest.too_large)
