from flask import (abort, flash, get_flashed_messages, redirect, render_template, request,
                   url_for)

from peek.blueprints.settings import operations as settings_operations
from peek.auth.guard import current_admin
from peek.blueprints.settings import owners
from peek.blueprints.settings.fields import describe, form_fields
from peek.blueprints.settings.owners import SettingsOwner


def _htmx() -> bool:
    return bool(request.headers.get("HX-Request"))


def _find(key: str) -> SettingsOwner:
    owner = owners.find(key)
    if owner is None:
        abort(404, f"No installed plugin named “{key}” declares settings.")
    return owner


def _page(owner: SettingsOwner, typed: dict[str, str] | None = None,
          errors: dict[str, str] | None = None, message: str | None = None,
          status: int = 200):
    """The owner's page, or only its form for HTMX (which swaps the form)."""
    context = {"owner": owner, "errors": errors or {},
               "message": message or next(iter(get_flashed_messages()), None),
               "fields": form_fields(owner.settings, typed, errors) if owner.settings else []}
    if _htmx() and owner.settings:
        template = "settings/_form.html"
    elif owner.is_platform:
        template = "settings/index.html"
        context["plugins"] = owners.plugins()
    else:
        template = "settings/owner.html"
    return render_template(template, **context), status


def _done(owner: SettingsOwner, message: str):
    """After a change: the form again with ``message`` (HTMX), else the page
    loaded anew.  Platform settings show in the layout: the whole page reloads."""
    if _htmx() and not owner.is_platform:
        return _page(owner, message=message)
    flash(message)
    if _htmx():
        return "", 200, {"HX-Redirect": owner.page_url()}
    return redirect(owner.page_url())


def index():
    return _page(owners.platform())


def owner_page(owner: str):
    if owner == owners.PLATFORM:  # its form is on the index page
        return redirect(url_for("settings.index"))
    return _page(_find(owner))


def save(owner: str):
    found = _find(owner)
    if found.settings is None:
        return _page(found, status=409)
    # A switch is a hidden "false" followed by its checkbox: the last value counts.
    form = {name: request.form.getlist(name)[-1] for name in request.form}
    errors = settings_operations.save_form(found.settings, form, by=current_admin().name)
    if errors:
        return _page(found, typed=form, errors=errors)
    return _done(found, "Settings saved.")


def reset(owner: str, name: str | None = None):
    """GET asks to confirm (pages without scripts), POST resets."""
    found = _find(owner)
    if found.settings is None:
        return _page(found, status=409)
    setting = None
    if name is not None:
        setting = found.declared.get(name)
        if setting is None:
            abort(404, f"{found.title} has no setting “{name}”.")
    if request.method == "GET":
        return render_template("settings/confirm_reset.html", owner=found, setting=setting,
                               default=describe(setting, setting.default) if setting else None)
    settings_operations.reset(found.settings, name, by=current_admin().name)
    return _done(found, f"{setting.title} is back to its default." if setting
                 else "Every setting is back to its default.")


def not_found(error):
    return render_template("settings/not_found.html", message=error.description), 404
