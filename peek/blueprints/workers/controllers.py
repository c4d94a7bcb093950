from flask import render_template

from peek.runtime import current_runtime


def workers_page():
    return render_template("workers/page.html", dask=current_runtime().dask.status())


def status_panel():
    """The cluster's figures alone, refreshed in place by HTMX."""
    return render_template("workers/_status.html", dask=current_runtime().dask.status())
