from flask import Blueprint

from peek.blueprints.admin import controllers
from peek.blueprints.admin.durations import duration

bp = Blueprint("admin", __name__, template_folder="templates")
bp.add_url_rule("/", view_func=controllers.dashboard)
bp.add_url_rule("/services", view_func=controllers.services_panel)
bp.add_url_rule("/dashboard/plugins", view_func=controllers.plugins_panel)
bp.add_url_rule("/dashboard/problems", view_func=controllers.problems_panel)
bp.add_app_template_filter(duration, "duration")
