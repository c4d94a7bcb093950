from flask import Blueprint

from peek.blueprints.peer import controllers
from peek.extensions import sock
from peek.peering.protocol import PATH

bp = Blueprint("peer", __name__)
sock.route(PATH, bp=bp)(controllers.peer_link)
bp.add_url_rule("/plugins", view_func=controllers.plugin_states)
bp.add_url_rule("/plugins/package/<name>/<version>", view_func=controllers.plugin_package)
bp.add_url_rule("/plugins/apply", view_func=controllers.apply_plugins, methods=["POST"])
bp.add_url_rule("/vortex", view_func=controllers.vortex_stats)
