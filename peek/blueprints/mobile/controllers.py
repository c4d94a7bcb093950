from flask import current_app, render_template, send_from_directory

from peek.device_auth import public


def home():
    return render_template("mobile/home.html")


@public
def service_worker():
    """Served from the site's root so that it may control every page of the
    mobile and desktop sites (a worker's scope is its own path and below)."""
    response = send_from_directory(current_app.static_folder, "js/service-worker.js",
                                   mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
