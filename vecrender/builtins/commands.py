"""Built-in commands, registered through the same hooks as any plugin.

``vecrender new-plugin`` and ``vecrender render`` live here rather than in the CLI module so the
``register_commands`` hook is exercised by our own code, exactly as a bundle would use it.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import click
import torch

from vecrender import hookimpl

KINDS = ("loss", "method", "renderer", "initializer")  # mirrors vecrender.scaffold.KINDS (lazy import)


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(new_plugin)
    cli.add_command(render)


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number.")
    return value


@click.command(name="render")
@click.argument("svgs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="The PNG to write (one SVG, a .png name) or a folder for them. Default: beside each SVG, "
                   "NAME.png (NAME@2x.png with --scale 2, NAME-500px.png with --width 500).")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=None, callback=_finite,
              help="The canvas and everything on it times this (2: a 224 px sketch at 448 px). Default: 1.")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="The PNG's width in pixels, its height by the drawing's aspect (instead of --scale).")
@click.option("--renderer", default="native", show_default=True,
              help="Any installed renderer (vecrender list renderers), with its default options.")
@click.option("--transparent", is_flag=True,
              help="Keep the alpha channel (RGBA PNG) instead of drawing over the file's background (white).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def render(svgs: tuple[Path, ...], out: Path | None, scale: float | None, width: int | None, renderer: str,
           transparent: bool, device: str) -> None:
    """Render SVG files (sketches, or drawings from other tools) to PNG with a vecrender renderer.

    \b
    vecrender render runs/cat-clipasso/cat-16paths.svg --scale 2
    vecrender render a.svg b.svg -o pngs/ --renderer reference
    """
    from vecrender.components import RunContext
    from vecrender.errors import ConfigError
    from vecrender.images import check_pixels, save_png
    from vecrender.io import make_dirs
    from vecrender.plugins import get_host
    from vecrender.runner import composite, resolve_device
    from vecrender.svg import RENDER_FILL_TOLERANCE, load_svg

    if scale is not None and width is not None:
        raise click.UsageError("--scale and --width both set the PNG's size; give one.")
    size_tag = f"-{width}px" if width else (f"@{scale:g}x" if scale not in (None, 1.0) else "")
    jobs = _render_targets(svgs, out, size_tag)
    context = RunContext(device=resolve_device(device))
    drawer_class = get_host().registry.entry("renderer", renderer).obj
    # each scene is drawn once: a CUDA graph captured per drawing shape would cost more than it saves
    # and keep its memory
    one_shot = {"cuda_graphs": False} if "cuda_graphs" in {f.name for f in fields(drawer_class.Config)} else {}
    drawer = drawer_class.from_dict(one_shot, context)
    for svg, png in jobs:
        scene = load_svg(svg, fill_tolerance=RENDER_FILL_TOLERANCE)
        size = (width, round(width * scene.height / scene.width)) if width else (
            round(scene.width * (scale or 1.0)), round(scene.height * (scale or 1.0)))
        size = (max(size[0], 1), max(size[1], 1))
        check_pixels(*size, f"the PNG of {svg}", "lower --scale or give --width, or if this machine has "
                     "the memory", ConfigError)  # before the renderer allocates it
        scene = scene.resized(*size).to(context.device)
        with torch.no_grad():
            rgba = drawer.render([scene])
        if transparent:  # premultiplied -> straight alpha
            image = torch.cat([rgba[:, :3] / rgba[:, 3:].clamp_min(1e-12), rgba[:, 3:]], dim=1)[0]
        else:
            image = composite(rgba, [scene])[0]
        make_dirs(png.parent)
        save_png(png, image.cpu())
        click.echo(f"{png} ({scene.width} x {scene.height} px)")


def _render_targets(svgs: tuple[Path, ...], out: Path | None, size_tag: str = "") -> list[tuple[Path, Path]]:
    """Each SVG and the PNG it is rendered to (see `render`'s --out; `size_tag` ends the default
    names of another size than the SVG's, so a run's own PNG beside its SVG is not replaced by a
    bigger one); an SVG given twice, once."""
    from vecrender.errors import InputImageError

    for svg in svgs:
        if svg.is_dir():
            raise InputImageError(f"{str(svg)!r} is a directory; pass the SVG files in it (e.g. {svg / '*.svg'}).")
        if not svg.exists():
            raise InputImageError(f"SVG file {str(svg)!r} not found.")
    suffix = out.suffix.lower() if out is not None else ""
    if suffix != ".png" and _is_image_suffix(suffix):  # -o out.jpg would make a folder out.jpg/
        raise click.UsageError(f"--out {out}: render writes PNG only; give a .png name (one SVG) or a folder.")
    if out is None:
        targets = [svg.with_name(f"{svg.stem}{size_tag}.png") for svg in svgs]
    elif suffix == ".png" and len(svgs) > 1:
        raise click.UsageError(f"--out {out}: several SVGs go to a folder; give one, not a .png file.")
    else:
        targets = [out] if suffix == ".png" else [out / svg.with_suffix(".png").name for svg in svgs]
    jobs: dict[Path, tuple[Path, Path]] = {}
    for svg, png in zip(svgs, targets):
        earlier = jobs.setdefault(png.resolve(), (svg, png))[0]
        if earlier.resolve() != svg.resolve():  # one would silently overwrite the other
            raise click.UsageError(f"{earlier} and {svg} would both be written to {png}; render them to "
                                   f"different --out folders.")
    return list(jobs.values())


def _is_image_suffix(suffix: str) -> bool:
    from PIL import Image

    return suffix in Image.registered_extensions() or suffix in (".svg", ".svgz")


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
    from vecrender.scaffold import component_name, create_plugin

    root = directory if directory is not None else Path(name)
    written = create_plugin(name, kind, root)  # its errors are usage errors (exit 2)
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
