"""Strict Config building: unknown keys, wrong types, choices, defaults, documentation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from vecrender.config import build_config, config_to_dict, describe_config, option
from vecrender.errors import ConfigError


@dataclass
class Sample:
    lr: float = option(1.0, "Learning rate.")
    steps: int = option(10, "Number of steps.")
    params: list[str] = option(["points"], "Tensors to optimise.")
    mode: str = option("fast", "Speed mode.", choices=("fast", "exact"))
    size: tuple[int, int] = option((4, 4), "Width and height.")
    path: str | None = option(None, "Optional file.")
    kind: Literal["a", "b"] = option("a", "A literal.")
    flag: bool = option(False, "A switch.")


def test_defaults_and_coercion():
    cfg = build_config(Sample, {"lr": 2, "size": [3, 5], "path": "x.svg"}, "test")
    assert cfg.lr == 2.0 and isinstance(cfg.lr, float)
    assert cfg.size == (3, 5)
    assert cfg.params == ["points"]
    assert config_to_dict(cfg)["size"] == [3, 5]


def test_mutable_defaults_are_not_shared():
    a = build_config(Sample, {}, "a")
    a.params.append("widths")
    assert build_config(Sample, {}, "b").params == ["points"]


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError) as err:
        build_config(Sample, {"stpes": 3}, "losses[0] (l2)")
    message = str(err.value)
    assert "losses[0] (l2)" in message and "'stpes'" in message and "did you mean 'steps'" in message


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"steps": "ten"}, "test.steps: expected int, got 'ten' (str)"),
        ({"steps": 1.5}, "test.steps: expected int, got 1.5 (float)"),
        ({"flag": 1}, "test.flag: expected bool, got 1 (int)"),
        ({"params": "points"}, "test.params: expected list[str], got 'points' (str)"),
        ({"params": ["points", 3]}, "test.params[1]: expected str, got 3 (int)"),
        ({"size": [1, 2, 3]}, "test.size: expected 2 values"),
        ({"kind": "c"}, "expected one of 'a', 'b'"),
    ],
)
def test_wrong_types_name_field_type_and_value(data, needle):
    with pytest.raises(ConfigError) as err:
        build_config(Sample, data, "test")
    assert needle in str(err.value)


def test_choices():
    with pytest.raises(ConfigError) as err:
        build_config(Sample, {"mode": "fsat"}, "test")
    assert "'fsat' is not one of 'fast', 'exact'" in str(err.value)
    assert "did you mean 'fast'" in str(err.value)


def test_describe_lists_type_default_doc():
    info = {f.name: f for f in describe_config(Sample)}
    assert info["lr"].type == "float" and info["lr"].default == 1.0 and info["lr"].doc == "Learning rate."
    assert info["path"].type == "str | None"
    assert info["mode"].choices == ("fast", "exact")


def test_float_text_from_yaml_1_1_is_accepted_for_float_fields():
    # yaml.safe_load reads "1e-3" as a string; a float option still takes it.
    import yaml

    raw = yaml.safe_load("lr: 1e-3")
    assert raw == {"lr": "1e-3"}
    assert build_config(Sample, raw, "test").lr == 1e-3
    with pytest.raises(ConfigError, match="expected float"):
        build_config(Sample, {"lr": "fast"}, "test")
    with pytest.raises(ConfigError, match="expected int"):
        build_config(Sample, {"steps": "1e3"}, "test")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "-.inf", "1e400", 10**400])
def test_float_options_are_finite(value):
    raw = {"lr": value if value != "-.inf" else float("-inf")}
    with pytest.raises(ConfigError, match=r"test.lr: expected a finite number, got"):
        build_config(Sample, raw, "test")


@dataclass
class Bounded:
    segments: int = option(1, "Segments.", min=1)
    temp: float = option(0.3, "Temperature.", above=0)
    color: list[float] = option([0.0, 0.0, 0.0, 1.0], "RGBA.", min=0, max=1)


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"segments": 0}, "test.segments: must be >= 1, got 0."),
        ({"temp": 0.0}, "test.temp: must be > 0, got 0.0."),
        ({"color": [0, 0, 2, 1]}, "test.color: must be in [0, 1], got 2.0 in [0.0, 0.0, 2.0, 1.0]."),
    ],
)
def test_bounds(data, needle):
    with pytest.raises(ConfigError) as err:
        build_config(Bounded, data, "test")
    assert needle in str(err.value)
    assert build_config(Bounded, {"segments": 3, "temp": 1e-3, "color": [1, 1, 1, 0]}, "test").segments == 3
    info = {f.name: f.bounds for f in describe_config(Bounded)}
    assert info == {"segments": ">= 1", "temp": "> 0", "color": "in [0, 1]"}


def test_path_fields_take_text_and_dump_as_text():
    @dataclass
    class Files:
        image: Path = option(Path("in.png"), "Input.")
        mask: Path | None = option(None, "Optional mask.")

    cfg = build_config(Files, {"image": "photo.jpg", "mask": "m.png"}, "test")
    assert cfg.image == Path("photo.jpg") and cfg.mask == Path("m.png")
    assert config_to_dict(cfg) == {"image": "photo.jpg", "mask": "m.png"}  # YAML-safe
    with pytest.raises(ConfigError, match="test.image: expected Path, got '' "):
        build_config(Files, {"image": ""}, "test")


def test_unsupported_types_are_named():
    import torch

    from vecrender.config import unsupported_type

    for tp in (int, float | None, list[str], tuple[int, ...], tuple[int, float], dict[str, list[int]],
               Literal["a", 1], int | Literal["auto"], list, dict):
        assert unsupported_type(tp) is None, tp
    assert unsupported_type(torch.Tensor) is torch.Tensor
    assert unsupported_type(list[torch.Tensor | None]) is torch.Tensor
    assert unsupported_type(dict[int, str]) is int


def test_check_defaults_uses_the_recipe_rules():
    from vecrender.config import check_defaults

    check_defaults(Sample)
    check_defaults(Bounded)

    @dataclass
    class Bad:
        power: float = option("abc", "Exponent.")

    with pytest.raises(ConfigError, match=r"^default of power: expected float, got 'abc' \(str\)\.$"):
        check_defaults(Bad)


@dataclass
class Windowed:
    win_size: int = option(11, "Window (odd).", min=1)
    channels: list[str] = option(["r"], "Channels.", choices=("r", "g", "b"))
    low_high: list[float] = option([0.0, 1.0], "Range.")

    def __post_init__(self) -> None:
        if self.win_size % 2 == 0:
            raise ValueError(f"win_size: must be odd, got {self.win_size}")
        if len(self.low_high) != 2:
            raise ValueError("give low and high")


def test_post_init_rules_are_config_errors_at_the_recipe_place():
    with pytest.raises(ConfigError, match=r"^losses\[w\]\.win_size: must be odd, got 4\.$"):
        build_config(Windowed, {"win_size": 4}, "losses[w]")
    with pytest.raises(ConfigError, match=r"^losses\[w\]: give low and high\.$"):  # not an option's name
        build_config(Windowed, {"low_high": [1.0]}, "losses[w]")
    assert build_config(Windowed, {"win_size": 5}, "losses[w]").win_size == 5


def test_check_defaults_applies_post_init_rules():
    from vecrender.config import check_defaults

    @dataclass
    class EvenDefault(Windowed):
        win_size: int = option(10, "Window (odd).", min=1)

    with pytest.raises(ConfigError, match=r"^defaults\.win_size: must be odd, got 10\.$"):
        check_defaults(EvenDefault)


def test_list_choices_hold_for_each_item():
    assert build_config(Windowed, {"channels": ["g", "b"]}, "test").channels == ["g", "b"]
    with pytest.raises(ConfigError, match=r"test\.channels: 'x' is not one of 'r', 'g', 'b'"):
        build_config(Windowed, {"channels": ["r", "x"]}, "test")
    assert [f.choices for f in describe_config(Windowed) if f.name == "channels"] == [("r", "g", "b")]


def test_check_interval():
    from vecrender.config import check_interval

    check_interval("crop", [0.5, 0.5])
    for bad in ([0.9, 0.1], [0.5], [0.1, 0.2, 0.3]):
        with pytest.raises(ValueError, match=r"^crop: expected \[low, high\] with low <= high"):
            check_interval("crop", bad)
