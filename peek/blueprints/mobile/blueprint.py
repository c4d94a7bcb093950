from flask import Blueprint

from peek.blueprints.mobile import controllers

bp = Blueprint("mobile", __name__, template_folder="templates")
bp.add_url_rule("/", view_func=controllers.home)
bp.add_url_rule("/service-worker.js", view_func=controllers.service_worker)
