from flask import Blueprint

from peek.blueprints.table_editor import controllers
from peek.table_editor.editor import URL_PREFIX

bp = Blueprint("table_editor", __name__, template_folder="templates")
TABLE = f"{URL_PREFIX}/<plugin>/<table>"
bp.add_url_rule(TABLE, view_func=controllers.table_page)
bp.add_url_rule(f"{TABLE}/rows", view_func=controllers.add_row, methods=["POST"])
# One row, named by ?key=<primary key value> (one per primary key column).
bp.add_url_rule(f"{TABLE}/row", view_func=controllers.show_row)
bp.add_url_rule(f"{TABLE}/row", endpoint="save_row", view_func=controllers.save_row,
                methods=["POST"])
bp.add_url_rule(f"{TABLE}/row", endpoint="delete_row", view_func=controllers.delete_row,
                methods=["DELETE"])
bp.add_url_rule(f"{TABLE}/row/edit", view_func=controllers.edit_row)
