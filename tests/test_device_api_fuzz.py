"""schemathesis, an OpenAPI fuzzer, over the client service's device REST API
as a signed-in device user: no server error, no request left unanswered, no
request the document admits refused, nothing it forbids accepted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_device_sign_in import password_grant, peek  # noqa: F401 (the platform)

SEED = 20261204
EXAMPLES = 100  # per operation and phase: seconds on two cores


def test_schemathesis_finds_nothing_on_the_device_api(peek, tmp_path):  # noqa: F811
    access = password_grant(peek, "alice").json()["access_token"]
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [str(st), "run", f"{peek.mobile}/vortex/api/openapi.json",
         "--checks", "all", "--seed", str(SEED), "--max-examples", str(EXAMPLES),
         "--request-timeout", "15", "--workers", "1",
         "--header", f"Authorization: Bearer {access}", "--no-color",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout
