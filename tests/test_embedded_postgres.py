"""The embedded PostgreSQL: the platform's own connections go through its Unix socket."""

import sqlalchemy

from peek.storage.database import sqlalchemy_url
from peek.storage.embedded import EmbeddedPostgres
from tests.conftest import free_port


def server_address(url: str):
    engine = sqlalchemy.create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT inet_server_addr()").scalar()
    finally:
        engine.dispose()


def test_the_platform_connects_through_the_unix_socket_and_tcp_still_works(pg_server):
    assert pg_server.socket_dir == pg_server.data_dir
    assert "?host=" in pg_server.url
    assert server_address(pg_server.url) is None  # no IP address: a Unix socket
    tcp = f"postgresql://peek@{pg_server.host}:{pg_server.port}/peek"
    assert server_address(tcp) == "127.0.0.1"


def test_a_data_directory_too_deep_for_a_socket_is_reached_over_tcp(tmp_path):
    deep = EmbeddedPostgres(tmp_path / ("d" * 120) / "pgdata", free_port())
    assert deep.socket_dir is None
    assert deep.url == f"postgresql://peek@127.0.0.1:{deep.port}/peek"


def test_new_wal_segments_are_not_zero_filled_and_commits_still_flush(pg_server):
    engine = sqlalchemy.create_engine(sqlalchemy_url(pg_server.url))
    try:
        with engine.connect() as conn:
            settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                        for name in ("wal_init_zero", "fsync", "synchronous_commit")}
    finally:
        engine.dispose()
    assert settings == {"wal_init_zero": "off", "fsync": "on", "synchronous_commit": "on"}
