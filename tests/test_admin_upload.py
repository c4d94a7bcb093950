"""Uploads on the admin Plugins page that must be refused: the same checks as
``peek plugin install``, a clear message, and the platform left as it was."""

import io
import json
import os
import re
import time
import zipfile

import pytest

from tests.admin_session import admin_client, csrf_token
from tests.test_plugin_install import REFUSED, snapshot


@pytest.fixture
def admin(configured, start_service):
    server = start_service("server", listen=False)
    return admin_client(server.apps["admin"])


def upload(site, filename: str, data: bytes):
    token = csrf_token(site.get("/plugins").get_data(as_text=True))
    return site.post("/plugins/upload", headers={"X-CSRFToken": token},
                     data={"package": (io.BytesIO(data), filename)},
                     content_type="multipart/form-data")


def finished_job(site, status: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        html = site.get(status).get_data(as_text=True)
        if 'data-finished="true"' in html:
            return html
        time.sleep(0.1)
    raise AssertionError(f"the upload job at {status} did not finish")


def plugins_table(site) -> str:
    """The Plugins table, without the Dask workers (they come and go)."""
    return "\n".join(line for line in site.get("/plugins/table").get_data(as_text=True)
                     .splitlines() if line.strip() and 'data-service="worker"' not in line)


def test_every_refused_upload_says_why_and_changes_nothing(admin, configured, tmp_path):
    table = plugins_table(admin)
    before = snapshot(configured)
    for case, (build, message) in sorted(REFUSED.items()):
        scratch = tmp_path / case.replace(" ", "-")
        scratch.mkdir()
        archive = build(scratch)
        response = upload(admin, archive.name, archive.read_bytes())
        assert response.status_code == 202, (case, response.get_data(as_text=True))
        job = finished_job(admin, response.get_json()["status"])
        assert 'data-failed="true"' in job, case
        text = re.sub(r"\s+", " ", job.replace("&#39;", "'").replace("&gt;", ">"))
        assert f"{archive.name} was not installed" in text and message in text, (case, text)
        assert snapshot(configured) == before, case
        assert plugins_table(admin) == table, case
    assert not (tmp_path.parent / "outside.txt").exists()


def test_uploads_over_the_size_limit_or_without_a_file_are_refused(admin, configured):
    from peek.plugin_system.archive import Limits

    before = snapshot(configured)
    for name in ("huge.whl", "huge.zip"):  # a zip that is no release is a package
        too_big = upload(admin, name, bytes(Limits().max_archive_bytes + 1))
        assert too_big.status_code == 413, name
        assert too_big.get_json()["error"] == (
            "the package is too large: plugin packages may be at most 50 MiB, release "
            "archives 500 MiB"), name
    # A body claiming more than a release may be is refused before it is read.
    token = csrf_token(admin.get("/plugins").get_data(as_text=True))
    claimed = admin.post("/plugins/upload", headers={"X-CSRFToken": token},
                         data={"package": (io.BytesIO(b"x"), "x.zip")},
                         environ_overrides={"CONTENT_LENGTH": str(600 * 2**20)})
    assert claimed.status_code == 413 and "release archives 500 MiB" in claimed.get_json()[
        "error"]
    token = csrf_token(admin.get("/plugins").get_data(as_text=True))
    nothing = admin.post("/plugins/upload", headers={"X-CSRFToken": token})
    assert nothing.status_code == 400 and "choose a plugin package" in nothing.get_json()[
        "error"]
    forged = admin.post("/plugins/upload", headers={"X-CSRFToken": "forged"},
                        data={"package": (io.BytesIO(b"x"), "x.whl")})
    assert forged.status_code == 400
    assert snapshot(configured) == before


def test_a_release_archive_over_the_package_limit_is_taken(admin, configured):
    """Releases may be larger than packages (they carry their dependencies'
    wheels): past the size check, the release's own checks apply."""
    from peek.plugin_system.archive import Limits

    before = snapshot(configured)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("peek-release.json", json.dumps({
            "format": 1, "created": "2026-12-02T00:00:00Z", "dependencies": [],
            "plugins": [{"name": "peek_plugin_big", "version": "1.0.0",
                         "wheel": "peek_plugin_big-1.0.0-py3-none-any.whl"}]}))
        zf.writestr("plugins/peek_plugin_big-1.0.0-py3-none-any.whl", b"")
        zf.writestr("wheels/padding.bin", os.urandom(Limits().max_archive_bytes + 2**20))
    response = upload(admin, "big-release.zip", archive.getvalue())
    assert response.status_code == 202, response.get_data(as_text=True)
    job = finished_job(admin, response.get_json()["status"])
    assert 'data-failed="true"' in job
    text = re.sub(r"\s+", " ", job)
    assert "big-release.zip was not installed" in text
    assert "holds wheels/padding.bin, not listed in peek-release.json" in text
    assert snapshot(configured) == before


def test_uploads_need_a_signed_in_administrator(configured, start_service):
    site = start_service("server", listen=False).apps["admin"].test_client()
    response = site.post("/plugins/upload", data={"package": (io.BytesIO(b"x"), "x.whl")})
    assert response.status_code == 401
