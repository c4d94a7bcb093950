"""Uploads on the admin Plugins page that must be refused: the same checks as
``peek plugin install``, a clear message, and the platform left as it was."""

import io
import re
import time

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
    too_big = upload(admin, "huge.whl", bytes(Limits().max_archive_bytes + 1))
    assert too_big.status_code == 413 and "at most 50 MiB" in too_big.get_json()["error"]
    token = csrf_token(admin.get("/plugins").get_data(as_text=True))
    nothing = admin.post("/plugins/upload", headers={"X-CSRFToken": token})
    assert nothing.status_code == 400 and "choose a plugin package" in nothing.get_json()[
        "error"]
    forged = admin.post("/plugins/upload", headers={"X-CSRFToken": "forged"},
                        data={"package": (io.BytesIO(b"x"), "x.whl")})
    assert forged.status_code == 400
    assert snapshot(configured) == before
