"""Each service logs to peek-<service>.log in PEEK_HOME, rotated, at the configured level."""

import logging

from peek.config import load_config
from peek.logs import setup_logging
from tests.conftest import write_config


def test_log_file_rotates_keeping_two_old_files(home):
    write_config(home, "agent", {"logging": {"rotateSizeMb": 1}})
    path = setup_logging(load_config("agent"), console=False)
    assert path == home / "peek-agent.log"
    line = "x" * 1000
    for _ in range(4000):  # about 4 MB: three rotations
        logging.getLogger("test.rotation").info(line)
    logs = sorted(p.name for p in home.glob("peek-agent.log*"))
    assert logs == ["peek-agent.log", "peek-agent.log.1", "peek-agent.log.2"]
    for name in logs[1:]:
        size = (home / name).stat().st_size
        assert 0.9 * 1024 * 1024 < size <= 1024 * 1024


def test_level_comes_from_config(home):
    write_config(home, "client", {"logging": {"level": "WARNING"}})
    path = setup_logging(load_config("client"), console=False)
    logging.getLogger("test.level").info("quiet info line")
    logging.getLogger("test.level").warning("loud warning line")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "loud warning line" in text and "quiet info line" not in text
