"""peek_core_user's admin pages: the users of the table directory, and the
device sign-ins an administrator can revoke."""

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from ...api import TABLE_DIRECTORY
from .. import accounts
from ..accounts import PasswordPolicy, UserError
from ..storage import SignInSession, UserAccount
from .api import UserApiImpl
from .sessions import REVOKED_SHOWN_DAYS, SignIns
from .table_directory import as_tuple


def _admin_name() -> str:
    from peek.auth.guard import current_admin
    admin = current_admin()
    return admin.name if admin is not None else "?"


def _session_row(row: SignInSession) -> dict:
    return {"id": row.id, "user": row.user_name, "kind": row.kind, "address": row.address,
            "agent": row.user_agent, "created": row.created, "last_used": row.last_used,
            "revoked_at": row.revoked_at, "revoked_by": row.revoked_by}


def _checked(name: str) -> bool:
    return request.form.get(name) in ("on", "true", "1", "yes")


class AdminPages:
    """The views of the admin blueprint (mounted at ``/peek_core_user/``)."""

    def __init__(self, platform, api: UserApiImpl, sign_ins: SignIns):
        self.platform, self._api, self.sign_ins = platform, api, sign_ins

    def blueprint(self) -> Blueprint:
        admin = Blueprint("admin", __name__, template_folder="../../templates")
        admin.add_url_rule("/", "index", self._index)
        admin.add_url_rule("/add", "add", self._add, methods=["GET", "POST"])
        admin.add_url_rule("/users/<name>", "edit", self._edit, methods=["GET", "POST"])
        admin.add_url_rule("/users/<name>/enabled", "set_enabled", self._set_enabled,
                           methods=["POST"])
        admin.add_url_rule("/users/<name>/password", "password", self._password,
                           methods=["GET", "POST"])
        admin.add_url_rule("/sessions", "sessions", self._sessions)
        admin.add_url_rule("/sessions/<session_id>/revoke", "revoke", self._revoke,
                           methods=["POST"])
        admin.add_url_rule("/users/<name>/sessions/revoke", "revoke_user", self._revoke_user,
                           methods=["POST"])
        return admin

    # Admin pages: the built-in table directory ------------------------------

    def _policy(self) -> PasswordPolicy:
        return PasswordPolicy(min_length=self.platform.settings.get("min_password_length"))

    def _user_or_404(self, session, name: str):
        user = accounts.find(session, name)
        if user is None:
            abort(404, f"there is no user named {name!r}")
        return user

    def _index(self) -> str:
        with self.platform.db_session() as session:
            users = [as_tuple(u) for u in session.scalars(
                sa.select(UserAccount).order_by(sa.func.lower(UserAccount.name)))]
        directory = self._api.directory_name()
        return render_template("peek_core_user/users.html", users=users, directory=directory,
                               table_answers=directory == TABLE_DIRECTORY)

    def _form(self) -> dict:
        return {"name": request.form.get("name", ""),
                "display_name": request.form.get("display_name", ""),
                "groups": request.form.get("groups", ""),
                "enabled": _checked("enabled")}

    def _add(self):
        if request.method == "GET":
            return render_template("peek_core_user/user_form.html", adding=True,
                                   form={"enabled": True}, error=None)
        form = self._form()
        try:
            with self.platform.db_session() as session:
                user = accounts.create_user(
                    session, self._policy(), name=form["name"],
                    password=request.form.get("password", ""),
                    confirm=request.form.get("confirm", ""),
                    display_name=form["display_name"], groups=form["groups"],
                    enabled=form["enabled"])
                name = user.name
        except UserError as e:
            return render_template("peek_core_user/user_form.html", adding=True, form=form,
                                   error=e), 422
        self.platform.log.info("Administrator %s added user %s", _admin_name(), name)
        flash(f"Added user {name}.")
        return redirect(url_for(".index"))

    def _edit(self, name: str):
        with self.platform.db_session() as session:
            user = as_tuple(self._user_or_404(session, name))
        if request.method == "GET":
            return render_template("peek_core_user/user_form.html", adding=False, user=user,
                                   form={"display_name": user.display_name,
                                         "groups": ", ".join(user.groups),
                                         "enabled": user.enabled}, error=None)
        form = self._form()
        try:
            with self.platform.db_session() as session:
                accounts.update_user(session, name, display_name=form["display_name"],
                                     groups=form["groups"], enabled=form["enabled"])
        except UserError as e:
            return render_template("peek_core_user/user_form.html", adding=False, user=user,
                                   form=form, error=e), 422
        self.platform.log.info("Administrator %s edited user %s", _admin_name(), user.name)
        if user.enabled and not form["enabled"]:
            self.sign_ins.revoke_user(user.name, f"administrator {_admin_name()}")
        flash(f"Saved user {user.name}.")
        return redirect(url_for(".index"))

    def _set_enabled(self, name: str):
        enabled = _checked("enabled")
        with self.platform.db_session() as session:
            self._user_or_404(session, name)
            user = accounts.set_enabled(session, name, enabled)
            name = user.name
        self.platform.log.info("Administrator %s %s user %s", _admin_name(),
                               "enabled" if enabled else "disabled", name)
        if not enabled:  # a disabled user is signed out everywhere
            self.sign_ins.revoke_user(name, f"administrator {_admin_name()}")
        flash(f"{'Enabled' if enabled else 'Disabled'} user {name}.")
        return redirect(url_for(".index"))

    def _password(self, name: str):
        with self.platform.db_session() as session:
            user = as_tuple(self._user_or_404(session, name))
        if request.method == "GET":
            return render_template("peek_core_user/password.html", user=user, error=None,
                                   min_length=self._policy_min())
        try:
            with self.platform.db_session() as session:
                accounts.set_password(session, self._policy(), name,
                                      request.form.get("password", ""),
                                      request.form.get("confirm", ""))
        except UserError as e:
            return render_template("peek_core_user/password.html", user=user, error=e,
                                   min_length=self._policy_min()), 422
        self.platform.log.info("Administrator %s set a new password for user %s",
                               _admin_name(), user.name)
        # Whoever knew the old password is signed out with it.
        revoked = self.sign_ins.revoke_user(user.name, f"administrator {_admin_name()}")
        flash(f"Set a new password for user {user.name}"
              f"{f' and signed them out ({revoked} sign-ins)' if revoked else ''}.")
        return redirect(url_for(".index"))

    def _policy_min(self) -> int:
        return max(accounts.PASSWORD_FLOOR, self._policy().min_length)

    # Admin pages: device sign-ins ------------------------------------------------------

    def _sessions(self) -> str:
        with self.platform.db_session() as session:
            rows = [_session_row(r) for r in self.sign_ins.live(session)]
            revoked = [_session_row(r) for r in self.sign_ins.revoked_since(session)]
        return render_template("peek_core_user/sessions.html", sessions=rows, revoked=revoked,
                               revoked_days=REVOKED_SHOWN_DAYS)

    def _revoke(self, session_id: str):
        with self.platform.db_session() as session:
            row = session.get(SignInSession, session_id)
            if row is None:
                abort(404, "there is no such sign-in")
            user = row.user_name
        if self.sign_ins.revoke(session_id, f"administrator {_admin_name()}"):
            flash(f"Revoked a sign-in of {user}.")
        else:
            flash(f"That sign-in of {user} was revoked already.")
        return redirect(url_for(".sessions"))

    def _revoke_user(self, name: str):
        count = self.sign_ins.revoke_user(name, f"administrator {_admin_name()}")
        flash(f"Signed {name} out everywhere ({count} sign-in{'s' if count != 1 else ''}).")
        return redirect(url_for(".sessions"))
