"""Signing in to the admin site in tests, as an administrator would."""

from __future__ import annotations

import re

import requests
import sqlalchemy
from sqlalchemy.orm import Session

from peek.auth import operations
from peek.storage.database import sqlalchemy_url

ADMIN, PASSWORD = "root", "correct horse battery"


def add_admin(database_url: str, name: str = ADMIN, password: str = PASSWORD) -> None:
    """Create an administrator (the server has migrated the schema)."""
    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url))
    try:
        with Session(engine) as session:
            if operations.find(session, name) is None:
                operations.create_user(session, name, password)
    finally:
        engine.dispose()


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in_client(client, name: str = ADMIN, password: str = PASSWORD):
    """Sign a Flask test client in; returns the sign-in response."""
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    return client.post("/sign-in", data={"name": name, "password": password,
                                         "csrf_token": token})


def admin_client(app):
    """A test client of the admin app, signed in."""
    add_admin(app.extensions["peek"].database_url)
    client = app.test_client()
    assert sign_in_client(client).status_code == 302
    return client


def admin_requests(base: str, database_url: str) -> requests.Session:
    """A requests session signed in to the admin site at ``base``."""
    add_admin(database_url)
    http = requests.Session()
    token = csrf_token(http.get(f"{base}/sign-in", timeout=10).text)
    response = http.post(f"{base}/sign-in", timeout=10, allow_redirects=False,
                         data={"name": ADMIN, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text
    return http


def sign_in_page(page, base: str, database_url: str, next_path: str = "/") -> None:
    """Sign in through the form in the browser, landing on ``next_path``."""
    add_admin(database_url)
    page.goto(f"{base}{next_path}")
    page.fill("input[name=name]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{next_path}")
