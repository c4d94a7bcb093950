from flask import render_template

from peek.runtime import current_runtime


def dashboard():
    return render_template("admin/dashboard.html", health=current_runtime().health()[0])


def services_panel():
    """The services table alone, refreshed in place by HTMX."""
    return render_template("admin/_services.html", health=current_runtime().health()[0])
