"""Registry: validation of registered components, name clashes, lookups with suggestions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import vecrender
from vecrender.components import Method, RunContext
from vecrender.errors import ConfigError, PluginError, UnknownComponentError
from vecrender.recipe import LOSS_KEYS
from vecrender.registry import Registry


class Darkness(vecrender.Loss):
    """Mean ink of the render."""

    name = "test.darkness"

    @dataclass
    class Config:
        scale: float = vecrender.option(1.0, "Multiplier.")

    def forward(self, batch):
        return self.config.scale * (1 - batch.images.mean(dim=(1, 2, 3)))


def test_add_get_build():
    reg = Registry()
    entry = reg.add("loss", Darkness, "plug", "dist", "1.0")
    assert entry.description == "Mean ink of the render."
    assert reg.get("loss", "test.darkness") is Darkness
    loss = reg.build("loss", {"use": "test.darkness", "scale": 2}, RunContext(), "losses[0]")
    assert loss.config.scale == 2.0
    with pytest.raises(ConfigError, match=r"losses\[0\] \(test.darkness\): unknown option 'scael'.*'scale'"):
        reg.build("loss", {"use": "test.darkness", "scael": 2}, RunContext(), "losses[0]")
    with pytest.raises(ConfigError, match="expected a mapping with 'use"):
        reg.build("loss", {"scale": 2}, RunContext(), "losses[0]")


def test_unknown_name_lists_closest_and_how_to_list():
    reg = Registry()
    reg.add("loss", Darkness, "plug")
    with pytest.raises(UnknownComponentError) as err:
        reg.get("loss", "test.darknes")
    message = str(err.value)
    assert "'test.darkness'" in message and "vecrender list losses" in message


def test_same_name_from_two_plugins_names_both():
    reg = Registry()
    reg.add("loss", Darkness, "first")
    with pytest.raises(PluginError) as err:
        reg.add("loss", Darkness, "second")
    assert "'first'" in str(err.value) and "'second'" in str(err.value)


def test_remove_plugin():
    reg = Registry()
    reg.add("loss", Darkness, "first")
    reg.remove_plugin("first")
    assert reg.names("loss") == []


def test_invalid_components_rejected():
    reg = Registry()

    class NoDoc(vecrender.Loss):
        name = "nodoc"

    class Undocumented(vecrender.Loss):
        """Has an undocumented option."""

        name = "undocumented"

        @dataclass
        class Config:
            x: int = 1

    class NoName(vecrender.Loss):
        """No name."""

    with pytest.raises(PluginError, match="no docstring"):
        reg.add("loss", NoDoc, "p")
    with pytest.raises(PluginError, match="without documentation: x"):
        reg.add("loss", Undocumented, "p")
    with pytest.raises(PluginError, match="no `name`"):
        reg.add("loss", NoName, "p")
    with pytest.raises(PluginError, match="subclass of vecrender.Renderer"):
        reg.add("renderer", Darkness, "p")
    with pytest.raises(PluginError, match="Method instances"):
        reg.add("method", Darkness, "p")
    reg.add("method", Method("m", "A method.", {"steps": 1}), "p")
    assert reg.get("method", "m").load_recipe() == {"steps": 1}


def test_a_component_missing_what_a_run_calls_is_rejected_at_registration():
    """Not at the first step as an internal error: a misspelt ``forward``, an optimizer without
    ``zero_grad``, an ``__init__`` a run cannot call."""
    misspelt = type("Misspelt", (vecrender.Loss,), {"__doc__": "Typo.", "name": "t.typo", "foward": Darkness.forward})
    with pytest.raises(PluginError, match=r"^loss class Misspelt \(t.typo\) does not implement forward, which every "
                                          r"loss needs \(check the spelling; see the signature in vecrender.Loss\)"):
        Registry().add("loss", misspelt, "p")
    half = type("Half", (vecrender.Optimizer,), {"__doc__": "Half.", "name": "t.half",
                                                 "setup": lambda self, scenes: None})
    with pytest.raises(PluginError, match="does not implement zero_grad, step, which every optimizer needs"):
        Registry().add("optimizer", half, "p")

    class NoArgs(Darkness):
        """Takes nothing."""

        name = "t.noargs"

        def __init__(self):
            super().__init__()

    with pytest.raises(PluginError, match=r"a run builds it as NoArgs\(config, context\), which its __init__\(self\) "
                                          r"does not accept; .*call super\(\).__init__\(config, context\)"):
        Registry().add("loss", NoArgs, "p")

    class Keywords(Darkness):
        """Takes them by keyword too."""

        name = "t.keywords"

        def __init__(self, config=None, context=None, **extra):
            super().__init__(config, context)

    Registry().add("loss", Keywords, "p")


def _loss(name: str = "test.opt", **fields) -> type:
    """A loss class whose Config has `fields` ({field: (annotation, vecrender.option(...))})."""
    config = dataclass(type("Config", (), {"__annotations__": {k: t for k, (t, _) in fields.items()},
                                           **{k: o for k, (_, o) in fields.items()}}))
    return type("Opt", (vecrender.Loss,), {"__doc__": "A loss with options.", "name": name, "Config": config,
                                           "forward": Darkness.forward})


@pytest.mark.parametrize("key", LOSS_KEYS)
def test_a_loss_option_named_like_a_loss_entry_key_is_rejected(key):
    cls = _loss(**{key: (float, vecrender.option(1.0, "Shadows the entry key."))})
    with pytest.raises(PluginError, match=rf"Config field '{key}' has the name of a loss-entry key \(use, weight, "
                                          r"label, start, stop, remove .*rename the field"):
        Registry().add("loss", cls, "p")
    Registry().add("renderer", type("R", (vecrender.Renderer,), {  # only loss entries take these keys
        "__doc__": "A renderer.", "name": "test.r", "Config": cls.Config, "render": lambda self, scenes: None}), "p")


@pytest.mark.parametrize("annotation, option, problem", [
    (float, vecrender.option("abc", "Exponent."), "default of x: expected float, got 'abc' (str)"),
    (int, vecrender.option(1.0, "Count."), "default of x: expected int, got 1.0 (float)"),
    (str, vecrender.option("slow", "Mode.", choices=("fast", "exact")), "default of x: 'slow' is not one of"),
    (float, vecrender.option(0.0, "Scale.", above=0), "default of x: must be > 0, got 0.0"),
    (list[float], vecrender.option([0.5, 2.0], "RGB.", max=1), "default of x: must be <= 1, got 2.0 in"),
])
def test_option_defaults_are_validated_at_registration(annotation, option, problem):
    with pytest.raises(PluginError) as err:
        Registry().add("loss", _loss(x=(annotation, option)), "p")
    assert str(err.value).startswith(f"loss class Opt (test.opt): invalid Config {problem}")
    assert str(err.value).endswith("Fix the default given to vecrender.option.")


def test_annotations_no_yaml_value_satisfies_are_rejected():
    import torch

    for annotation in (torch.Tensor, list[torch.Tensor], torch.Tensor | None, dict[int, float]):
        with pytest.raises(PluginError, match=r"Config field 'x' has the type .*which no recipe value can be "
                                              r"\(.* is not supported\)\. Supported: bool, int, float, str, "
                                              r"pathlib\.Path"):
            Registry().add("loss", _loss(x=(annotation, vecrender.option(None, "Something."))), "p")


def test_path_options_take_text():
    from pathlib import Path

    from vecrender.config import config_to_dict

    reg = Registry()
    reg.add("loss", _loss(file=(Path, vecrender.option(Path("a.png"), "A file."))), "p")
    loss = reg.build("loss", {"use": "test.opt", "file": "foo"}, RunContext(), "losses[0]")
    assert loss.config.file == Path("foo") and config_to_dict(loss.config) == {"file": "foo"}
    with pytest.raises(ConfigError, match=r"losses\[0\] \(test.opt\).file: expected Path, got 3 \(int\)"):
        reg.build("loss", {"use": "test.opt", "file": 3}, RunContext(), "losses[0]")


def test_method_recipes_are_checked_at_registration(tmp_path):
    from importlib.resources import files

    reg = Registry()
    with pytest.raises(PluginError, match=r"method 'm1': recipe file .*nope.yaml does not exist or is not a "
                                          r"file; ship it as package data"):
        reg.add("method", Method("m1", "Missing.", tmp_path / "nope.yaml"), "p")
    with pytest.raises(PluginError, match=r"method 'm2': recipe must be a dict, a pathlib.Path or an "
                                          r"importlib.resources file .*got the str 'm2.yaml'"):
        reg.add("method", Method("m2", "A str.", "m2.yaml"), "p")
    (tmp_path / "ok.yaml").write_text("steps: 1\n")
    reg.add("method", Method("m3", "A file.", tmp_path / "ok.yaml"), "p")
    reg.add("method", Method("m4", "Packaged.", files("vecrender") / "methods" / "painterly.yaml"), "p")


@pytest.mark.parametrize("name", ["Darkness", "my loss", "1st", "a..b", "a.", "test.Dark", ""])
def test_component_names_follow_the_documented_pattern(name):
    cls = type("Named", (vecrender.Loss,), {"__doc__": "Named.", "name": name})
    with pytest.raises(PluginError, match="no `name`" if not name else
                       rf"loss class Named: invalid name '{name}': use lowercase letters, digits"):
        Registry().add("loss", cls, "p")
    with pytest.raises(PluginError, match=r"needs a name|invalid name"):
        Registry().add("method", Method(name, "Named.", {"steps": 1}), "p")


def test_registration_messages():
    reg = Registry()
    with pytest.raises(PluginError, match="register_losses expects a subclass of vecrender.Loss"):
        reg.add("loss", object, "p")
    with pytest.raises(PluginError, match="unknown component kind 'extra'; choose from renderer"):
        reg.add("extra", Darkness, "p")
    reg.add("loss", Darkness, "p")
    with pytest.raises(PluginError, match="plugin 'p' registers the loss 'test.darkness' twice; call register "
                                          "once per class"):
        reg.add("loss", Darkness, "p")
    twin = type("Twin", (Darkness,), {"__doc__": "Another one."})
    with pytest.raises(PluginError, match=r"plugin 'p' registers two losses named 'test.darkness' "
                                          r"\(Darkness and Twin\); give each its own name"):
        reg.add("loss", twin, "p")
