"""``peek doctor``."""

from __future__ import annotations

import sys

import click


@click.command()
def doctor() -> None:
    """Check Python, packages, config files, database, ports and front-end assets."""
    from peek.doctor import run_checks

    checks = run_checks()
    for check in checks:
        mark = click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {check.name}: {check.detail}")
        if check.fix:
            click.echo(f"     fix: {check.fix}")
    failed = [c for c in checks if not c.ok]
    click.echo(f"{len(checks) - len(failed)} ok, {len(failed)} to fix.")
    sys.exit(1 if failed else 0)
