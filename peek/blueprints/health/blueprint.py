from flask import Blueprint

from peek.blueprints.health import controllers

bp = Blueprint("health", __name__)
bp.add_url_rule("/healthz", view_func=controllers.healthz)
