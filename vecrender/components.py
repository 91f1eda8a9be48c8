"""Component base classes: Renderer, Initializer, Loss, Optimizer, Preprocessor, and Method.

A component is a small class with

* ``name``: the name recipes use (``use: <name>``); bundles prefix theirs (``clipasso.geometric``);
* a docstring whose first sentence is the one-line description shown by ``vecrender list``;
* ``Config``: a dataclass of documented options (see :mod:`vecrender.config`).

Plugins register the *class*; a run builds an instance with ``Cls(config, context)``, so
registration is free and heavy models load only when a run needs them. Heavy models shared by
several components (one CLIP for saliency and losses) come from ``context.models``.

A Method is data: a named recipe shipped by a plugin.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from vecrender.config import EmptyConfig, build_config
from vecrender.errors import ConfigError
from vecrender.scene import VectorScene


# -- run context --------------------------------------------------------------------------------
class ModelCache:
    """Run-scoped cache of heavy models, so components that need the same model share one instance.

    ``context.models.get(("clip", "RN101", "openai"), lambda: load_clip(...))`` builds the model the
    first time and returns the same object afterwards. ``release(key)`` drops it (e.g. a model only
    needed during initialisation).
    """

    def __init__(self) -> None:
        self._models: dict[Any, Any] = {}

    def get(self, key: Any, factory: Callable[[], Any]) -> Any:
        if key not in self._models:
            self._models[key] = factory()
        return self._models[key]

    def release(self, key: Any) -> None:
        self._models.pop(key, None)

    def __contains__(self, key: Any) -> bool:
        return key in self._models


@dataclass
class RunContext:
    """What a component may know about the run it is part of.

    ``width`` / ``height`` are the canvas size. Under ``canvas: input`` the runner sets them to the
    preprocessed input's size after building the components, so a component reads them when it
    first draws or scores (``initialize``, ``prepare``), not in its constructor."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    width: int = 224
    height: int = 224
    seed: int = 0
    steps: int = 0
    out_dir: Path | None = None
    input_path: Path | None = None
    prompt: str | None = None
    models: ModelCache = field(default_factory=ModelCache)
    log: Callable[[str], None] = print
    #: The seeds of the run's sketches, in the order of the scenes components are given (an
    #: optimizer's ``setup``, a render's batch); empty outside a run.
    sketch_seeds: tuple[int, ...] = ()

    def artifact(self, name: str) -> Path | None:
        """Path of an extra output file (e.g. ``attention_map.png``), or None when not saving."""
        return None if self.out_dir is None else self.out_dir / name


# -- base classes -------------------------------------------------------------------------------
class Component:
    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Config: ClassVar[type] = EmptyConfig
    #: True when the component reads ``context.prompt``: a run given a prompt that no component
    #: reads warns that it is ignored.
    uses_prompt: ClassVar[bool] = False

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.context = context if context is not None else RunContext()

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None, context: RunContext | None = None,
                  where: str | None = None) -> Component:
        """Build from recipe options, validating them strictly against ``Config``."""
        config = build_config(cls.Config, options, where or f"{cls.kind} {cls.name!r}")
        return cls(config, context)

    @classmethod
    def description(cls) -> str:
        """The first sentence of the class's own docstring (an inherited one does not count), on
        one line however the docstring wraps it."""
        doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "").strip()
        paragraph = " ".join(doc.split("\n\n")[0].split())
        return re.split(r"(?<=\.)\s+(?=[A-Z])", paragraph, maxsplit=1)[0]


class Renderer(Component):
    """Turns scenes into images."""

    kind = "renderer"

    def render(self, scenes: Sequence[VectorScene]) -> Tensor:
        """Render scenes that share one canvas size.

        Returns premultiplied RGBA ``[S, 4, H, W]`` in [0, 1] (transparent where nothing is drawn),
        differentiable with respect to every floating tensor of the scenes, with each scene's
        ``groups`` composited as layers (``vecrender.builtins.renderers.render_layered``).
        """
        raise NotImplementedError


class Initializer(Component):
    """Creates the starting scene."""

    kind = "initializer"

    def initialize(self, num_paths: int, seed: int, target: Tensor | None) -> VectorScene:
        """A scene of `num_paths` paths on the context's canvas, deterministic for a given seed.

        `target` is the prepared target image ``[1, 3, H, W]`` in [0, 1], or None for methods
        without an input image. Called once per (stroke count, seed) of the run.
        """
        raise NotImplementedError

    def add_paths(self, scene: VectorScene, num_new: int, seed: int, target: Tensor | None,
                  current: Tensor) -> VectorScene:
        """`scene` with `num_new` paths appended (layer-wise addition; recipes with ``stages``).

        Called at the start of every stage after the first, for each sketch. `scene` is the
        sketch as optimised so far (detached); its paths must come first, unchanged, in the
        returned scene, followed by exactly `num_new` new paths. `seed` is the sketch's seed plus
        the stage index; `target` as for ``initialize``; `current` is `scene` rendered and
        composited over its background, ``[1, 3, H, W]`` in [0, 1] (no gradient), so new paths can
        go where the drawing is most wrong. Called after ``finish()``.

        The default raises ConfigError: an initializer supports ``stages`` only if it overrides this.
        """
        raise self.stages_unsupported()

    @classmethod
    def supports_stages(cls) -> bool:
        """Whether the class overrides ``add_paths`` (recipes with ``stages`` need it)."""
        return cls.add_paths is not Initializer.add_paths

    def stages_unsupported(self) -> ConfigError:
        return ConfigError(f"initializer {self.name!r} does not support stages (layer-wise path addition: "
                           f"it has no add_paths); set stages to null, or use an initializer that supports "
                           f"them (e.g. losses.live).")

    def finish(self) -> None:
        """Called after every scene of the run is initialised: release what is no longer needed."""


@dataclass
class LossInput:
    """What a loss sees at one step, for S sketches optimised together.

    images:  ``[S, 3, H, W]`` renders composited over the scene background, in [0, 1].
    rgba:    ``[S, 4, H, W]`` premultiplied renders before compositing.
    scenes:  the S scenes (for regularisers on the geometry).
    target:  ``[1, 3, H, W]`` prepared target in [0, 1] shared by all sketches, or None.
    step:    the optimisation step (0-based).
    training: False for the evaluation pass: deterministic, no augmentation.
    stage_start: index of the first path the current stage added (recipe ``stages``, layer-wise
             addition); the paths before it come from earlier stages. 0 without stages.
    sketches: the S sketches' indices in the run (None: all of them, in order). Once
             ``early_stop`` stops some, a step renders and scores only the others (every sketch
             while a loss has state: its ``state_dict`` is not empty).
    generators: S CPU generators, sketch i's random draws (augmentations) come from
             ``generators[i]``: seeded from each sketch's seed, so a sketch draws the same whether it
             runs alone or beside others. None (outside a run): torch's global generator;
             :meth:`sketch_generators` gives either.
    """

    images: Tensor
    rgba: Tensor
    scenes: Sequence[VectorScene]
    target: Tensor | None
    step: int = 0
    training: bool = True
    stage_start: int = 0
    sketches: Sequence[int] | None = None
    generators: Sequence[torch.Generator] | None = None

    @property
    def num_sketches(self) -> int:
        return self.images.shape[0]

    def target_for(self, loss_name: str) -> Tensor:
        """The target ``[1, 3, H, W]`` on the renders' device and dtype, checked against them.

        Raises ConfigError when the run has no target (no ``--input``), ValueError naming the loss
        and both shapes when they do not match.
        """
        images, target = self.images, self.target
        if target is None:
            raise ConfigError(f"loss {loss_name!r} compares renders with the input image, but the run has no "
                              "target: pass --input IMAGE (or remove the loss).")
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"loss {loss_name!r}: images must be [S, 3, H, W], got {list(images.shape)}.")
        if target.dim() != 4 or target.shape[0] != 1 or target.shape[1] != 3:
            raise ValueError(f"loss {loss_name!r}: target must be [1, 3, H, W], got {list(target.shape)}.")
        if images.shape[2:] != target.shape[2:]:
            raise ValueError(f"loss {loss_name!r}: renders are {images.shape[3]}x{images.shape[2]} but the target "
                             f"is {target.shape[3]}x{target.shape[2]} (width x height); they must match.")
        return target.to(device=images.device, dtype=images.dtype)

    def sketch_generators(self) -> list[torch.Generator | None]:
        """The generator of each sketch, in batch order (None: torch's global one)."""
        if self.generators is None:
            return [None] * self.num_sketches
        if len(self.generators) != self.num_sketches:
            raise ValueError(f"{len(self.generators)} generators for {self.num_sketches} sketches")
        return list(self.generators)


class Loss(Component):
    """Scores renders; lower is better."""

    kind = "loss"
    #: True when the loss compares against the input image (the run fails early without one).
    needs_target: ClassVar[bool] = False

    def prepare(self, target: Tensor | None) -> None:
        """Called once before optimisation with the prepared target (precompute features here)."""

    def forward(self, batch: LossInput) -> Tensor | dict[str, Tensor]:
        """Per-sketch loss ``[S]``, or a dict of named per-sketch terms (each ``[S]``) that are summed.

        Each sketch's value must depend only on that sketch, so sketches optimised together do not
        influence one another.
        """
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """What a loss carries from step to step (e.g. maps kept from earlier stages), saved in
        the checkpoint so ``--resume`` continues exactly; {} for a stateless loss."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    def __call__(self, batch: LossInput) -> Tensor | dict[str, Tensor]:
        return self.forward(batch)


class Optimizer(Component):
    """Updates the optimised scene tensors."""

    kind = "optimizer"

    def setup(self, scenes: Sequence[VectorScene]) -> None:
        """Choose the tensors to optimise (marking them ``requires_grad``) and build the state.

        A staged run (recipe ``stages``) calls it again with the grown scenes at each stage start
        (building fresh state), and then passes ``step`` counted from 0 within the stage, with
        ``context.steps`` the steps per stage.
        """
        raise NotImplementedError

    def zero_grad(self) -> None:
        raise NotImplementedError

    def step(self, step: int) -> None:
        """Apply one update after ``backward()``, then keep values valid (clamp widths, colors)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Preprocessor(Component):
    """Transforms the target image before optimisation (masking, padding, ...)."""

    kind = "preprocessor"

    def __call__(self, image: Tensor) -> Tensor:
        """``[1, 3, h, w]`` in [0, 1] -> ``[1, 3, h', w']`` in [0, 1]."""
        raise NotImplementedError


@dataclass(frozen=True)
class Method:
    """A named recipe shipped by a plugin.

    recipe: a YAML file (path or ``importlib.resources`` file) or a dict in recipe form.
    needs_input: False for methods that draw from a prompt only (no ``--input``).
    """

    name: str
    description: str
    recipe: Path | Traversable | dict
    needs_input: bool = True
    kind: ClassVar[str] = "method"

    def recipe_text(self) -> str:
        """The recipe as YAML: the file's own text (comments kept), or a dict recipe dumped."""
        if isinstance(self.recipe, dict):
            import yaml

            return yaml.safe_dump(self.recipe, sort_keys=False)
        return self.recipe.read_text(encoding="utf-8")

    def load_recipe(self) -> dict[str, Any]:
        """The recipe as a plain dict, as written (``extends`` not merged; an empty file gives {})."""
        import yaml

        if isinstance(self.recipe, dict):
            return copy.deepcopy(self.recipe)
        return yaml.safe_load(self.recipe_text()) or {}


COMPONENT_BASES: dict[str, type] = {
    "renderer": Renderer,
    "initializer": Initializer,
    "loss": Loss,
    "optimizer": Optimizer,
    "preprocessor": Preprocessor,
}
#: What each kind of component must implement (the bases' versions raise NotImplementedError).
REQUIRED_METHODS: dict[str, tuple[str, ...]] = {
    "renderer": ("render",),
    "initializer": ("initialize",),
    "loss": ("forward",),
    "optimizer": ("setup", "zero_grad", "step"),
    "preprocessor": ("__call__",),
}
