from flask import Blueprint

from peek import platform_settings
from peek.blueprints.settings import controllers

bp = Blueprint("settings", __name__, template_folder="templates")
# Every page of the admin site shows the instance name (layout header, page titles).
bp.app_context_processor(platform_settings.template_values)
bp.register_error_handler(404, controllers.not_found)
bp.add_url_rule("/settings", view_func=controllers.index)
bp.add_url_rule("/settings/<owner>", view_func=controllers.owner_page)
bp.add_url_rule("/settings/<owner>", "save", view_func=controllers.save, methods=["POST"])
bp.add_url_rule("/settings/<owner>/reset", view_func=controllers.reset, methods=["GET", "POST"])
bp.add_url_rule("/settings/<owner>/reset/<name>", view_func=controllers.reset,
                methods=["GET", "POST"])
