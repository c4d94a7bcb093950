from flask import Blueprint

from peek.blueprints.plugins import controllers

bp = Blueprint("plugins", __name__, template_folder="templates")
bp.add_url_rule("/plugins", view_func=controllers.index)
bp.add_url_rule("/plugins/table", view_func=controllers.table)
bp.add_url_rule("/plugins/upload", view_func=controllers.upload, methods=["POST"])
bp.add_url_rule("/plugins/uploads/<job_id>", view_func=controllers.upload_status)
bp.add_url_rule("/plugins/<name>/<action>", view_func=controllers.change, methods=["POST"])
bp.register_error_handler(413, controllers.too_large)
