"""Built-in commands, registered through the same hooks as any plugin.

``vecrender new-plugin`` lives here rather than in the CLI module so the ``register_commands``
hook is exercised by our own code, exactly as a bundle would use it.
"""

from __future__ import annotations

from pathlib import Path

import click

from vecrender import hookimpl

KINDS = ("loss", "method", "renderer", "initializer")  # mirrors vecrender.scaffold.KINDS (lazy import)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(new_plugin)


@click.command(name="new-plugin")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), default="loss", show_default=True,
              help="The component the project starts with.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Project directory to create (default: ./NAME). Must be absent or empty.")
def new_plugin(name: str, kind: str, directory: Path | None) -> None:
    """Create a plugin project NAME: package, entry point, one component, tests, README.

    NAME is the distribution name (e.g. inkwell or vecrender-inkwell); the package is NAME with
    '-' as '_', and components are prefixed with it (a leading 'vecrender-' is dropped):
    inkwell.darkness. The project passes its own tests right after `pip install -e`.
    """
    from vecrender.errors import VecrenderError
    from vecrender.scaffold import component_name, create_plugin

    root = directory if directory is not None else Path(name)
    try:
        written = create_plugin(name, kind, root)
    except VecrenderError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created the plugin project {name} in {root}/ with the {kind} "
               f"{component_name(name, kind)}:")
    for path in written:
        click.echo(f"  {path.relative_to(root)}")
    shown = str(root) if root.is_absolute() or str(root).startswith(".") else f"./{root}"
    steps = [(f"pip install -e {shown}", "registers the plugin's entry point"),
             ("vecrender plugins", "lists the new plugin"),
             (f"cd {shown} && pytest", "the generated tests pass as they are")]
    width = max(len(cmd) for cmd, _ in steps) + 3
    click.echo("\nNext steps:")
    for cmd, note in steps:
        click.echo(f"  {cmd.ljust(width)}# {note}")
