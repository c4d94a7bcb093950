"""``peek admin``: administrator accounts of the admin site."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import click

from peek.cli.errors import reported
from peek.config import load_config
from peek.services import SERVER

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@contextmanager
def platform_session() -> Iterator["Session"]:
    """A session on the server's database, its platform schema migrated."""
    import sqlalchemy
    from sqlalchemy.orm import Session

    from peek.app import create_app
    from peek.runtime import ServerRuntime
    from peek.storage.database import database_available, sqlalchemy_url
    from peek.storage.migrations import upgrade_platform

    config = load_config(SERVER)
    with database_available(config) as url:
        upgrade_platform(create_app("admin", ServerRuntime(config)))
        engine = sqlalchemy.create_engine(sqlalchemy_url(url))
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()


def _read_password() -> str:
    """Asked twice on a terminal; otherwise the first line of standard input."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@click.group()
def admin() -> None:
    """Administrators of the admin site."""


@admin.command("create-user")
@click.argument("name")
@reported
def create_user(name: str) -> None:
    """Add administrator NAME; the password is asked for (or read from stdin)."""
    from peek.auth import operations

    password = _read_password()
    with platform_session() as session:
        operations.create_user(session, name, password)
    click.echo(f"Administrator {name} created.")


@admin.command("set-password")
@click.argument("name")
@reported
def set_password(name: str) -> None:
    """Give administrator NAME a new password (also lifts a lock-out); every
    session NAME has open ends."""
    from peek.auth import operations

    password = _read_password()
    with platform_session() as session:
        operations.set_password(session, name, password)
    click.echo(f"New password set for {name}.")


@admin.command("delete-user")
@click.argument("name")
@reported
def delete_user(name: str) -> None:
    """Remove administrator NAME."""
    from peek.auth import operations

    with platform_session() as session:
        operations.delete_user(session, name)
    click.echo(f"Administrator {name} deleted.")


@admin.command("list-users")
@reported
def list_users() -> None:
    """Every administrator, with their last sign-in and any lock-out."""
    from peek.auth import operations

    with platform_session() as session:
        users = operations.list_users(session)
        for user in users:
            last = user.last_sign_in.isoformat(timespec="seconds") if user.last_sign_in \
                else "never signed in"
            locked = f", locked until {user.locked_until.isoformat(timespec='seconds')}" \
                if user.locked_until else ""
            click.echo(f"{user.name}\t{last}{locked}")
    if not users:
        click.echo("No administrators yet: peek admin create-user NAME")
