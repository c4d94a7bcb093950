import logging

from flask import redirect, render_template, request, session, url_for

from peek.auth import operations
from peek.auth.guard import current_admin, safe_next, sign_in_session
from peek.extensions import db
from peek.runtime import current_runtime

log = logging.getLogger(__name__)


def sign_in():
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET" and current_admin() is not None:
        return redirect(next_url)
    error, name = None, request.form.get("name", "").strip()
    if request.method == "POST":
        config = current_runtime().config
        policy = operations.SignInPolicy(config.get("admin.maxFailedSignIns"),
                                         config.get("admin.lockoutS"))
        try:
            user = operations.authenticate(db.session, name, request.form.get("password", ""),
                                           policy)
        except operations.SignInRefused as e:
            log.warning("Admin sign-in refused for %r from %s: %s", name,
                        request.remote_addr, e)
            error = str(e)
        else:
            sign_in_session(user)
            log.info("Administrator %s signed in from %s", user.name, request.remote_addr)
            return redirect(next_url)
    return render_template("auth/sign_in.html", error=error, name=name, next=next_url,
                           no_users=not operations.any_users(db.session))


def sign_out():
    user = current_admin()
    session.clear()
    if user is not None:
        log.info("Administrator %s signed out", user.name)
    return redirect(url_for("auth.sign_in"))
