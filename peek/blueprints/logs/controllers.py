from flask import Response, render_template, request

from peek.blueprints.logs.server_log import installed_plugins, server_log
from peek.config import LOG_LEVELS
from peek.log_reader import LogFilter, LogFilterError, log_filter

#: Records shown when the page opens, and at most per follow request.
PAGE_RECORDS = 300
#: The query parameters that make the filter (kept in the follow URL and links).
FILTER_FIELDS = ("level", "plugin", "platform", "q")


def _fields() -> dict[str, str]:
    return {name: request.args[name] for name in FILTER_FIELDS if request.args.get(name)}


def _filter(fields: dict[str, str], plugins: dict[str, str]) -> LogFilter:
    return log_filter(fields.get("level", ""), fields.get("plugin", ""),
                      bool(fields.get("platform")), fields.get("q", ""), plugins)


def index():
    """The latest matching records, followed live; a bad filter is a 400 with
    the form still there to correct it."""
    fields, plugins, log = _fields(), installed_plugins(), server_log()
    page = {"fields": fields, "plugins": sorted(plugins), "levels": LOG_LEVELS,
            "path": log.path}
    try:
        tail = log.latest(_filter(fields, plugins), limit=PAGE_RECORDS)
    except LogFilterError as e:
        return render_template("logs/page.html", error=str(e), **page), 400
    return render_template("logs/page.html", tail=tail, **page)


def follow():
    """The matching records written after ``after``, appended by the page's poller (HTMX)."""
    fields, after = _fields(), request.args.get("after") or None
    try:
        tail = server_log().latest(_filter(fields, installed_plugins()),
                                   limit=PAGE_RECORDS, after=after)
    except LogFilterError as e:
        return Response(str(e), status=400, mimetype="text/plain")
    if tail.cursor == after:
        return Response(status=204)  # nothing new: the poller stays as it is
    return render_template("logs/_follow.html", tail=tail, fields=fields)
