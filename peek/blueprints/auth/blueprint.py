from flask import Blueprint

from peek.blueprints.auth import controllers

bp = Blueprint("auth", __name__, template_folder="templates")
bp.add_url_rule("/sign-in", view_func=controllers.sign_in, methods=["GET", "POST"])
bp.add_url_rule("/sign-out", view_func=controllers.sign_out, methods=["POST"])
