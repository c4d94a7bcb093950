import logging

from flask import abort, jsonify, render_template, request

from peek.auth.guard import accepts_body, current_admin
from peek.plugin_system import live, packages
from peek.plugin_system.discovery import origin
from peek.plugin_system.packages import PluginOperationError
from peek.plugin_system.release import RELEASE_LIMITS, is_release
from peek.plugin_system.service_states import instances_of, service_columns
from peek.runtime import current_runtime

log = logging.getLogger(__name__)

ACTIONS = ("enable", "disable", "uninstall", "rollback")


def _rows() -> list[dict]:
    """Every installed plugin, with its state on each service instance."""
    runtime = current_runtime()
    home = runtime.config.home.parent
    enabled = set(runtime.config.get("plugin.enabled") or [])
    menu = runtime.slot_items("admin.menu")
    columns = service_columns(runtime)
    rows = []
    for name, record in sorted(runtime.plugins.records.items()):
        manifest = record.found.manifest
        services = set(manifest.requires_services) if manifest else set()
        rows.append({
            "name": name, "title": manifest.title if manifest else name,
            "version": manifest.version if manifest else None,
            "services": sorted(services & {"server", "client", "agent", "worker"}),
            "origin": origin(record.found, home),
            "enabled": name in enabled,
            # Why it failed, or why it is not started here (a plugin it
            # requires is missing, disabled or did not start).
            "error": record.error if record.state == "failed" or (
                record.state == "not started" and manifest is not None
                and manifest.runs_on(runtime.service)) else None,
            "traceback": record.traceback,
            "versions": packages.versions(home, name),
            "pages": [item for item in menu if item.plugin == name],
            "instances": {i: s for i, s in instances_of(columns, name).items()
                          if s["service"] in services},
        })
    return rows


def index():
    return render_template("plugins/index.html", rows=_rows(),
                           max_bytes=packages.Limits().max_archive_bytes,
                           max_release_bytes=RELEASE_LIMITS.max_archive_bytes)


def table():
    return render_template("plugins/_table.html", rows=_rows())


def too_large(_error=None):
    """413 for an upload over the limits (also when the CSRF check's reading
    of the form hit the body limit first)."""
    return jsonify(error=f"the package is too large: plugin packages may be at most "
                         f"{packages.Limits().max_archive_bytes // 2**20} MiB, release "
                         f"archives {RELEASE_LIMITS.max_archive_bytes // 2**20} MiB"), 413


@accepts_body(RELEASE_LIMITS.max_archive_bytes + 2**20)  # the form around it
def upload():
    file = request.files.get("package")
    if file is None or not file.filename:
        return jsonify(error="choose a plugin package (.whl, .tar.gz or .zip) to upload"), 400
    file.stream.seek(0, 2)
    size = file.stream.tell()
    file.stream.seek(0)
    if size > RELEASE_LIMITS.max_archive_bytes or (
            size > packages.Limits().max_archive_bytes
            and not is_release(file.stream, file.filename)):
        return too_large()
    try:
        job = current_runtime().install_jobs.start(file.filename, file.stream)
    except PluginOperationError as e:
        return jsonify(error=str(e)), 400
    log.info("Administrator %s uploaded %s", current_admin().name, job.filename)
    return jsonify(job=job.id, status=f"/plugins/uploads/{job.id}"), 202


def upload_status(job_id: str):
    job = current_runtime().install_jobs.get(job_id)
    if job is None:
        abort(404, "No such upload (the server keeps the last few)")
    return render_template("plugins/_job.html", job=job, stages=live.STAGES)


def change(name: str, action: str):
    """Enable, disable, uninstall or roll back ``name`` on every service; the
    table comes back with the outcome above it."""
    runtime = current_runtime()
    if action not in ACTIONS:
        abort(404)
    drop_data = request.form.get("drop_data") == "on"
    try:
        if action == "enable":
            live.enable(runtime, name)
            message = f"{name} enabled."
        elif action == "disable":
            live.disable(runtime, name)
            message = f"{name} disabled."
        elif action == "uninstall":
            live.uninstall(runtime, name, drop_data=drop_data)
            message = f"{name} uninstalled{', its data dropped' if drop_data else ''}."
        else:
            newer, older = live.rollback(runtime, name)
            message = f"{name} rolled back from {newer} to {older}."
    except PluginOperationError as e:
        return render_template("plugins/_area.html", rows=_rows(), ok=False,
                               message=f"Could not {action} {name}: {e}")
    log.info("Administrator %s: %s", current_admin().name, message)
    return render_template("plugins/_area.html", rows=_rows(), message=message, ok=True)
