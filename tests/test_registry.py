"""Registry: validation of registered components, name clashes, lookups with suggestions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import vecrender
from vecrender.components import Method, RunContext
from vecrender.errors import ConfigError, PluginError, UnknownComponentError
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
