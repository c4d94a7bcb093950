from flask import Blueprint

from peek.blueprints.admin import controllers

bp = Blueprint("admin", __name__, template_folder="templates")
bp.add_url_rule("/", view_func=controllers.dashboard)
bp.add_url_rule("/services", view_func=controllers.services_panel)
