from flask import render_template

from peek.plugin_system.service_states import plugin_names, service_columns
from peek.blueprints.logs.server_log import recent_problems
from peek.runtime import current_runtime


def _plugins() -> dict:
    columns = service_columns(current_runtime())
    return {"columns": columns, "plugin_names": plugin_names(columns)}


def dashboard():
    return render_template("admin/dashboard.html", health=current_runtime().health()[0],
                           problems=recent_problems(), **_plugins())


def services_panel():
    """The services table alone, refreshed in place by HTMX."""
    return render_template("admin/_services.html", health=current_runtime().health()[0])


def plugins_panel():
    """The plugins table alone, refreshed in place by HTMX."""
    return render_template("admin/_plugins.html", **_plugins())


def problems_panel():
    """The recent warnings and errors alone, refreshed in place by HTMX."""
    return render_template("admin/_problems.html", problems=recent_problems())
