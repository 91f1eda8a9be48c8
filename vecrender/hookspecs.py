"""The plugin contract: every hook a vecrender plugin can implement.

This file is the reference manual for plugin authors (the documentation's hook reference is
generated from it). A plugin is a module (or object) with functions decorated by
``vecrender.hookimpl`` whose names match the hooks below, published through an entry point in
the ``vecrender`` group of its ``pyproject.toml``::

    [project.entry-points.vecrender]
    my_plugin = "my_plugin.plugin"

Built-in components register through these same hooks (``vecrender.builtins``), so the core is
its own first plugin.

Rules shared by the ``register_*`` hooks:

* ``register`` is a callback; call it once per component **class** (methods: once per
  :class:`~vecrender.components.Method`). Registration must be cheap: import heavy libraries
  (CLIP, model weights) inside the component, not at module level.
* Names are global across plugins. Prefix yours with your plugin's name (``myplugin.fancy``);
  registering a name another plugin already registered is an error naming both plugins. Names
  use lowercase letters, digits, ``_`` and ``-``, with ``.`` between parts, starting with a letter.
* A component class needs ``name``, a docstring whose first sentence describes it, and a ``Config``
  dataclass whose fields use :func:`vecrender.option` (documented defaults). Invalid components are
  reported with the plugin's name and the plugin is skipped. Each default must pass its own
  field's type, ``choices`` and range; field types are those a recipe value can have (``bool``,
  ``int``, ``float``, ``str``, ``pathlib.Path``, ``Literal``, unions, lists, tuples, ``dict[str, X]``),
  and a loss's fields may not be named like a loss entry's keys (``weight``, ``label``, ...).
* ``register`` may grow keyword arguments in later versions; call it with the class only.
  A plugin whose hooks register nothing (a missing ``@vecrender.hookimpl``, a hook that returns
  the classes) is warned about (an error with ``VECRENDER_STRICT_PLUGINS=1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("vecrender")

#: The kinds of component; each has its hook ``register_<plural>`` below.
KINDS = ("renderer", "initializer", "loss", "optimizer", "preprocessor", "method")
PLURALS = {kind: "losses" if kind == "loss" else kind + "s" for kind in KINDS}

Register = Callable[[Any], None]


@hookspec
def register_renderers(register: Register) -> None:
    """Register renderer classes: scenes in, premultiplied RGBA images out.

    Arguments:
        register: call ``register(MyRenderer)`` for each class, a subclass of
            :class:`vecrender.Renderer` implementing ``render(scenes) -> Tensor[S, 4, H, W]``.

    Recipes select one with ``renderer: {use: <name>, ...options}``; the built-in ``native`` (fast)
    and ``reference`` (plain, the specification) renderers and the optional ``diffvg`` backend are
    registered here.

    A scene read from an SVG file may have ``groups`` (paths composited as one layer: SVG's group
    opacity, clip paths and masks). ``vecrender.builtins.renderers.render_layered(scenes,
    render_flat)`` honours them around a function that renders scenes without groups, as the
    built-in renderers do (with ``batch_runs=True``: fewer, batched calls, for a function that
    takes any number of scenes and draws nothing for a zero-width path off the canvas).

    Example::

        from dataclasses import dataclass
        import vecrender

        class Silhouette(vecrender.Renderer):
            \"\"\"Renders every path as solid black (for debugging).\"\"\"
            name = "myplugin.silhouette"

            @dataclass
            class Config:
                softness: float = vecrender.option(1.0, "Edge softness in pixels.")

            def render(self, scenes):
                ...

        @vecrender.hookimpl
        def register_renderers(register):
            register(Silhouette)
    """


@hookspec
def register_initializers(register: Register) -> None:
    """Register initializer classes: they create the starting scene of a run.

    Arguments:
        register: call ``register(MyInitializer)`` for each class, a subclass of
            :class:`vecrender.Initializer` implementing
            ``initialize(num_paths, seed, target) -> VectorScene``.

    ``initialize`` is called once per (stroke count, seed) of a run and must be deterministic for a
    given seed. ``finish()`` is called after the last one, to release models only needed for
    initialisation. Write extra outputs (such as an attention map) to
    ``self.context.artifact("name.png")`` when it is not None.

    Layer-wise addition (recipes with ``stages: [n1, n2, ...]``, as LIVE): ``initialize`` creates
    the first stage's ``n1`` paths; at the start of each later stage the runner calls the optional
    ``add_paths(scene, num_new, seed, target, current) -> VectorScene`` once per sketch, with
    the sketch so far (detached), the stage's path count, the sketch's seed plus the stage index,
    the target, and ``current``: the sketch rendered over its background (``[1, 3, H, W]``, no
    gradient). It returns the scene with its paths unchanged and first, then exactly ``num_new``
    new ones; the optimizer is then set up again on the grown scenes. It is called after
    ``finish()``, so keep what it needs. The default raises ConfigError (stages unsupported).

    Example::

        class Grid(vecrender.Initializer):
            \"\"\"Strokes on a regular grid.\"\"\"
            name = "myplugin.grid"

            @dataclass
            class Config:
                segments: int = vecrender.option(1, "Cubic segments per stroke.")

            def initialize(self, num_paths, seed, target):
                ...  # build and return a vecrender.VectorScene

            def add_paths(self, scene, num_new, seed, target, current):  # optional: stages
                from vecrender.scene import concat_scenes

                new = self.initialize(num_new, seed, target).to(scene.device)
                return concat_scenes([scene, new])

        @vecrender.hookimpl
        def register_initializers(register):
            register(Grid)
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register loss classes: they score the renders of every sketch in the run.

    Arguments:
        register: call ``register(MyLoss)`` for each class, a subclass of :class:`vecrender.Loss`
            implementing ``forward(batch: LossInput) -> Tensor[S] | dict[str, Tensor[S]]``.

    ``batch.images`` holds the S sketches being optimised together (several stroke counts and
    seeds), composited over the background; each sketch's value must depend on that sketch only.
    A dict return logs each term separately and sums them. ``batch.training`` is False for the
    evaluation pass (no randomness). Set ``needs_target = True`` when the loss compares against
    the input image, ``uses_prompt = True`` when it reads ``context.prompt``. In a staged run
    ``batch.stage_start`` is the first path of the current stage.
    ``batch.sketches`` are the sketches' indices in the run: once ``early_stop`` stops some, a
    batch holds only the others (every sketch while a loss has state, below). Draw a sketch's
    random numbers (augmentations) from its own generator, ``batch.sketch_generators()[i]``, so
    it draws the same alone or beside others (`vecrender.testing.check_loss` checks both passes).
    A loss that carries state from step to step returns it from ``state_dict()`` (and takes it
    back in ``load_state_dict``), so ``--resume`` continues exactly. Recipes add a loss with
    ``losses: [{use: <name>, weight: 1.0, label: ..., start: 0, stop: null, ...options}]``.

    Example::

        class Darkness(vecrender.Loss):
            \"\"\"Mean ink: pushes toward fewer, lighter strokes.\"\"\"
            name = "myplugin.darkness"

            def forward(self, batch):
                return 1.0 - batch.images.mean(dim=(1, 2, 3))

        @vecrender.hookimpl
        def register_losses(register):
            register(Darkness)
    """


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizer classes: they update the optimised scene tensors.

    Arguments:
        register: call ``register(MyOptimizer)`` for each class, a subclass of
            :class:`vecrender.Optimizer` implementing ``setup(scenes)``, ``zero_grad()``,
            ``step(step)`` and, for ``--resume``, ``state_dict()``/``load_state_dict()``.

    ``setup`` chooses which scene tensors are optimised (``VectorScene.requires_grad_``), usually
    from a ``params`` option, so the recipe decides. ``step`` also keeps values valid (for
    example clamping widths and colors).

    Example::

        class Sgd(vecrender.Optimizer):
            \"\"\"Plain gradient descent on the points.\"\"\"
            name = "myplugin.sgd"

            @dataclass
            class Config:
                lr: float = vecrender.option(0.1, "Step size in pixels.")

            def setup(self, scenes):
                self.opt = torch.optim.SGD(
                    [t for s in scenes for t in s.requires_grad_(["points"])], lr=self.config.lr)

            def zero_grad(self):
                self.opt.zero_grad()

            def step(self, step):
                self.opt.step()

        @vecrender.hookimpl
        def register_optimizers(register):
            register(Sgd)
    """


@hookspec
def register_preprocessors(register: Register) -> None:
    """Register target preprocessors: image transforms applied before optimisation.

    Arguments:
        register: call ``register(MyPreprocessor)`` for each class, a subclass of
            :class:`vecrender.Preprocessor` implementing
            ``__call__(image: Tensor[1, 3, h, w]) -> Tensor[1, 3, h', w']`` (values in [0, 1]).

    Recipes list them under ``preprocess:`` in order; afterwards the core resizes the result to
    the canvas (bicubic). The input arrives RGB, alpha already composited over white.
    Background masking and padding to a square are preprocessors.

    Example::

        class Grayscale(vecrender.Preprocessor):
            \"\"\"Converts the target to gray.\"\"\"
            name = "myplugin.gray"

            def __call__(self, image):
                return image.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)

        @vecrender.hookimpl
        def register_preprocessors(register):
            register(Grayscale)
    """


@hookspec
def register_methods(register: Register) -> None:
    """Register methods: named recipes users run with ``vecrender run <name>``.

    Arguments:
        register: call ``register(vecrender.Method(name, description, recipe))`` where ``recipe``
            is a YAML file shipped in your package (``pathlib.Path(__file__).with_name(
            "mymethod.yaml")``, beside the module) or a dict in recipe form. ``needs_input=False`` marks a method that
            draws from a prompt alone.

    A method is data: it may only combine registered components, so users can ``extends:`` it,
    override any option with ``--set``, and add losses from other plugins.

    Example::

        from pathlib import Path

        @vecrender.hookimpl
        def register_methods(register):
            register(vecrender.Method(
                name="myplugin.outline",
                description="Black outlines with a darkness penalty.",
                recipe=Path(__file__).with_name("outline.yaml"),
            ))
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``vecrender`` command line.

    Arguments:
        cli: the root ``click.Group``; decorate new commands with ``@cli.command()``.

    Import heavy libraries inside the command function, not at module level. A command whose name
    is taken (a built-in command such as ``run``, or another plugin's) is refused and reported; if
    the hook raises, the commands it added are removed.

    Example::

        import click

        @vecrender.hookimpl
        def register_commands(cli):
            @cli.command(name="hello")
            @click.argument("who")
            def hello(who):
                \"\"\"Say hello.\"\"\"
                click.echo(f"hello {who}")
    """
