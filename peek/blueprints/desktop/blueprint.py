from flask import Blueprint

from peek.blueprints.desktop import controllers

bp = Blueprint("desktop", __name__, template_folder="templates", url_prefix="/desktop")
bp.add_url_rule("/", view_func=controllers.home)
