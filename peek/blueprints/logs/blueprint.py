from flask import Blueprint

from peek.blueprints.logs import controllers
from peek.blueprints.logs.server_log import log_link

bp = Blueprint("logs", __name__, template_folder="templates")
bp.add_url_rule("/logs", view_func=controllers.index)
bp.add_url_rule("/logs/follow", view_func=controllers.follow)
bp.add_app_template_global(log_link, "log_link")
