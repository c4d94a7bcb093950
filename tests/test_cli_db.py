"""peek db upgrade / backup / restore against a real PostgreSQL."""

import psycopg2
import pytest

from tests.conftest import free_port, peek_cli, write_config


@pytest.fixture
def db_home(home, database_url):
    write_config(home, "server", {"sqlalchemy": {"connectUrl": database_url}})
    return home


def rows(url, sql="SELECT key, value FROM peek.platform_setting ORDER BY key"):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def execute(url, sql, *params):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)


def test_upgrade_creates_the_platform_schema(db_home, database_url):
    result = peek_cli("db", "upgrade", home=db_home)
    assert result.returncode == 0, result.stderr
    assert "The database schema is up to date." in result.stdout
    assert "peek_plugin_noop: up to date" in result.stdout
    assert rows(database_url) == []
    assert rows(database_url, "SELECT version_num FROM pl_noop.alembic_version") == [("0001",)]
    assert rows(database_url, "SELECT version_num FROM peek.alembic_version") == [("0004",)]
    # Running it again is harmless.
    assert peek_cli("db", "upgrade", home=db_home).returncode == 0


def test_backup_then_restore_gives_back_the_same_rows(db_home, database_url, tmp_path):
    assert peek_cli("db", "upgrade", home=db_home).returncode == 0
    for key, value in (("a", '{"n": 1}'), ("b", '"two"'), ("c", "[3]")):
        execute(database_url, "INSERT INTO peek.platform_setting (key, value) VALUES (%s, %s)",
                key, value)
    original = rows(database_url)
    dump = tmp_path / "peek.sql"
    result = peek_cli("db", "backup", str(dump), home=db_home)
    assert result.returncode == 0, result.stderr
    assert "platform_setting" in dump.read_text()

    execute(database_url, "DELETE FROM peek.platform_setting WHERE key = 'a'")
    execute(database_url, "UPDATE peek.platform_setting SET value = '0' WHERE key = 'b'")
    execute(database_url, "INSERT INTO peek.platform_setting (key, value) VALUES ('z', '9')")
    assert rows(database_url) != original

    result = peek_cli("db", "restore", str(dump), "--yes", home=db_home)
    assert result.returncode == 0, result.stderr
    assert rows(database_url) == original


def test_backup_can_leave_table_data_out(db_home, database_url, tmp_path):
    assert peek_cli("db", "upgrade", home=db_home).returncode == 0
    execute(database_url, "INSERT INTO peek.platform_setting (key, value) VALUES ('a', '1')")
    dump = tmp_path / "no-settings.sql"
    result = peek_cli("db", "backup", str(dump), "--exclude-table-data",
                      "peek.platform_setting", home=db_home)
    assert result.returncode == 0, result.stderr
    assert peek_cli("db", "restore", str(dump), "--yes", home=db_home).returncode == 0
    # The table is restored empty; the migration history rows are kept.
    assert rows(database_url) == []
    assert rows(database_url, "SELECT version_num FROM peek.alembic_version") == [("0004",)]

    schema_only = tmp_path / "schema.sql"
    assert peek_cli("db", "backup", str(schema_only), "--schema-only", home=db_home
                    ).returncode == 0
    assert "CREATE TABLE peek.platform_setting" in schema_only.read_text()
    assert "COPY peek.alembic_version" not in schema_only.read_text()


def test_a_broken_backup_file_changes_nothing(db_home, database_url, tmp_path):
    assert peek_cli("db", "upgrade", home=db_home).returncode == 0
    execute(database_url, "INSERT INTO peek.platform_setting (key, value) VALUES ('keep', '1')")
    broken = tmp_path / "broken.sql"
    broken.write_text("DELETE FROM peek.platform_setting;\nTHIS IS NOT SQL;\n")
    result = peek_cli("db", "restore", str(broken), "--yes", home=db_home)
    assert result.returncode == 1
    assert "changed nothing" in result.stderr and "syntax error" in result.stderr
    assert rows(database_url) == [("keep", 1)]

    missing = peek_cli("db", "restore", str(tmp_path / "nope.sql"), "--yes", home=db_home)
    assert missing.returncode == 1 and "no such backup file" in missing.stderr


def test_restore_asks_before_replacing_data(db_home, tmp_path):
    dump = tmp_path / "x.sql"
    dump.write_text("SELECT 1;\n")
    result = peek_cli("db", "restore", str(dump), home=db_home, input="n\n")
    assert result.returncode == 1 and "Aborted" in result.stderr


def test_upgrade_on_the_embedded_database_starts_and_stops_it(home):
    port = free_port()
    write_config(home, "server", {"embeddedPostgres": {"port": port}})
    result = peek_cli("db", "upgrade", home=home)
    assert result.returncode == 0, result.stderr
    data = home / "peek-server.home" / "pgdata"
    assert (data / "PG_VERSION").exists()
    # It was started for the command only: stopped again afterwards.
    assert not (data / "postmaster.pid").exists()
    dump = home / "backup.sql"
    assert peek_cli("db", "backup", str(dump), home=home).returncode == 0
    assert "CREATE TABLE peek.platform_setting" in dump.read_text()
