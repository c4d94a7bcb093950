"""The ``peek`` command line (click, Flask style).

The same commands are attached to every app's ``flask`` CLI, so
``flask --app wsgi doctor`` works as ``peek doctor`` does.
"""

from __future__ import annotations

import click

from peek import __version__
from peek.cli.admin import admin
from peek.cli.db import db
from peek.cli.doctor import doctor
from peek.cli.plugin import plugin
from peek.cli.services import agent, client, run, server, worker

COMMANDS = (run, server, client, agent, worker, db, plugin, admin, doctor)


@click.group(help="Peek: run, connect and serve plugins.")
@click.version_option(__version__, prog_name="peek")
def cli() -> None:
    pass


for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="peek")
