"""The docs name what the code has."""

from pathlib import Path

from peek.config import KEYS
from peek.cli import cli

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = (DOCS.parent / "README.md").read_text()


def test_every_config_key_is_documented():
    text = (DOCS / "configuration.md").read_text()
    assert [k.path for k in KEYS if f"`{k.path}`" not in text] == []


def test_readme_opens_with_the_two_commands_and_lists_every_command():
    assert README.split("```")[1].split() == ["make", "run", "make", "test"]
    for name, command in cli.commands.items():
        assert f"`peek {name}" in README or f"`peek {name}`" in README, name
        for sub in getattr(command, "commands", {}):
            assert f"`peek {name} {sub}" in README, f"{name} {sub}"
