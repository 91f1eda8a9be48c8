"""Recipe loading: extends and merge rules, --set overrides, strict errors, resolved dumps."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import vecrender
from vecrender import Initializer, Loss, Method, Optimizer, Preprocessor, Renderer, RunContext, option
from vecrender.errors import ConfigError, UnknownComponentError, VecrenderWarning
from vecrender.plugins import PluginHost
from vecrender.recipe import (
    DEFAULTS,
    build_components,
    dump_yaml,
    load_recipe,
    merge,
    plugin_version_warnings,
    resolved_dict,
)


def _not_run(self, *args):
    raise AssertionError("the components of these tests are built, never run")


class Flat(Renderer):
    """Test renderer."""

    name = "t.flat"
    render = _not_run

    @dataclass
    class Config:
        softness: float = option(1.0, "Edge softness.")
        samples: int = option(2, "Samples per pixel.")


class Other(Renderer):
    """Another test renderer."""

    name = "t.other"
    render = _not_run

    @dataclass
    class Config:
        gamma: float = option(2.2, "Gamma.")


class Init(Initializer):
    """Test initializer."""

    name = "t.init"
    initialize = _not_run

    @dataclass
    class Config:
        segments: int = option(1, "Segments per path.")


class Pixel(Loss):
    """Test loss."""

    name = "t.pixel"
    forward = _not_run

    @dataclass
    class Config:
        scale: float = option(1.0, "Multiplier.")
        mode: str = option("l2", "Norm.", choices=("l1", "l2"))


class Heavy(Loss):
    """A loss whose construction must not happen when its weight is 0."""

    name = "t.heavy"
    forward = _not_run
    built = 0

    def __init__(self, config=None, context=None):
        super().__init__(config, context)
        Heavy.built += 1


class Sgd(Optimizer):
    """Test optimizer."""

    name = "t.sgd"
    setup = zero_grad = step = _not_run

    @dataclass
    class Config:
        lr: float = option(0.1, "Learning rate.")
        params: list[str] = option(["points"], "Tensors.")


class Pad(Preprocessor):
    """Test preprocessor."""

    name = "t.pad"
    __call__ = _not_run

    @dataclass
    class Config:
        margin: int = option(0, "Margin.")


BASE = {
    "steps": 50,
    "renderer": {"use": "t.flat", "softness": 0.5},
    "initializer": {"use": "t.init"},
    "losses": [{"use": "t.pixel", "weight": 1.0}, {"use": "t.pixel", "label": "coarse", "weight": 0.5, "scale": 2.0}],
    "optimizer": {"use": "t.sgd"},
}


@vecrender.hookimpl
def register_renderers(register):
    register(Flat)
    register(Other)


@vecrender.hookimpl
def register_initializers(register):
    register(Init)


@vecrender.hookimpl
def register_losses(register):
    register(Pixel)
    register(Heavy)


@vecrender.hookimpl
def register_optimizers(register):
    register(Sgd)


@vecrender.hookimpl
def register_preprocessors(register):
    register(Pad)


@vecrender.hookimpl
def register_methods(register):
    register(Method("t.base", "Base method.", BASE))
    register(Method("t.child", "Extends t.base.", {"extends": "t.base", "steps": 80}))
    register(Method("t.loop", "Extends itself.", {"extends": "t.loop"}))


@pytest.fixture
def reg():
    host = PluginHost(strict=True)
    host.add(sys.modules[__name__], "t", distribution="t-plugin", version="2.0")
    return host.registry


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def labels(recipe) -> list[str]:
    return [e["label"] for e in recipe.losses]


# -- loading and merging --------------------------------------------------------------------------
def test_method_and_defaults(reg):
    r = load_recipe("t.base", registry=reg)
    assert r.method == "t.base" and r.steps == 50 and r.seed == 0 and r.seeds == 1 and r.strokes == [16]
    assert (r.width, r.height) == (224, 224) and r.device == "auto" and r.prompt is None
    assert r["eval_every"] == 10 and r["save_every"] == 100 and r["video"] is False and r["video_every"] == 5
    assert r.losses[0] == {"use": "t.pixel", "weight": 1.0, "label": "t.pixel", "start": 0, "stop": None}
    assert r.losses[1]["label"] == "coarse" and r.losses[1]["scale"] == 2.0
    assert set(DEFAULTS) <= set(r.data)
    child = load_recipe("t.child", registry=reg)
    assert child.method == "t.child" and child.steps == 80 and labels(child) == ["t.pixel", "coarse"]


def test_a_method_name_is_the_method_even_beside_a_file_of_that_name(reg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "t.base", {**BASE, "steps": 2})
    assert load_recipe("t.base", registry=reg).steps == 50
    assert load_recipe("./t.base", registry=reg).steps == 2


def test_a_recipe_nested_past_pythons_recursion_limit_is_a_recipe_error(reg, tmp_path):
    write(tmp_path / "r0.yaml", {"extends": "t.base"})
    for i in range(1, 1200):
        write(tmp_path / f"r{i}.yaml", {"extends": f"r{i - 1}.yaml"})
    with pytest.raises(ConfigError, match=r"r1199.yaml: the recipe nests too deeply \(an extends chain"):
        load_recipe(tmp_path / "r1199.yaml", registry=reg)


def test_a_key_given_twice_is_refused_not_overwritten(reg, tmp_path):
    path = write(tmp_path / "dup.yaml", "extends: t.base\nsteps: 2\ncanvas: 32\nsteps: 3\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: YAML syntax error at line 4, column 1: the key 'steps' is given "
                                          r"twice \(first at line 2\)"):
        load_recipe(path, registry=reg)
    from vecrender.recipe import safe_load

    assert safe_load("a: &s {width: 32, height: 32}\nb: {<<: *s, height: 20}")["b"] == {"width": 32, "height": 20}


def test_base_60_numbers_stay_text():
    """YAML 1.1 reads 2:00 as 120: a recipe keeps what was written (and then says it is no int)."""
    from vecrender.recipe import safe_load

    assert safe_load("a: 2:00\nb: 1:30.5\nc: 12\nd: 1.5\ne: 0x10") == {"a": "2:00", "b": "1:30.5", "c": 12,
                                                                       "d": 1.5, "e": 16}


def test_extends_file_relative_paths_and_merge_rules(reg, tmp_path):
    write(tmp_path / "base" / "parent.yaml", {**BASE, "canvas": 64, "preprocess": [{"use": "t.pad", "margin": 3}]})
    child = write(tmp_path / "child.yaml", {
        "extends": "base/parent.yaml",
        "renderer": {"samples": 4},                      # same component: options merge
        "optimizer": {"lr": 0.5},
        "losses": [{"label": "coarse", "weight": 0.25},   # update by label
                   {"use": "t.pixel", "label": "fine", "mode": "l1"}],  # append
        "preprocess": [],                                # lists replace
        "strokes": [8, 16],
    })
    r = load_recipe(child, registry=reg)
    assert r.data["renderer"] == {"use": "t.flat", "softness": 0.5, "samples": 4}
    assert r.data["optimizer"] == {"use": "t.sgd", "lr": 0.5}
    assert labels(r) == ["t.pixel", "coarse", "fine"]
    assert r.losses[1]["weight"] == 0.25 and r.losses[1]["scale"] == 2.0
    assert r.losses[2]["mode"] == "l1" and r.data["preprocess"] == [] and r.strokes == [8, 16]
    assert (r.width, r.height) == (64, 64) and r.method is None
    # a different `use` replaces the component entirely
    other = write(tmp_path / "other.yaml", {"extends": "child.yaml", "renderer": {"use": "t.other"}})
    assert load_recipe(other, registry=reg).data["renderer"] == {"use": "t.other"}
    # the nearest method names the run; a file can extend a method
    on_method = write(tmp_path / "m.yaml", {"extends": "t.child", "losses": [{"label": "coarse", "remove": True}]})
    r = load_recipe(str(on_method), registry=reg)
    assert r.method == "t.child" and labels(r) == ["t.pixel"] and r.steps == 80


def test_merge_function():
    parent = {"a": {"use": "x", "k": 1, "n": {"p": 1}}, "b": [1, 2]}
    merged = merge(parent, {"a": {"n": {"q": 2}}, "b": [3]})
    assert merged == {"a": {"use": "x", "k": 1, "n": {"p": 1, "q": 2}}, "b": [3]}
    assert merge(parent, {"a": {"use": "y"}})["a"] == {"use": "y"}
    assert parent["a"]["n"] == {"p": 1}  # inputs are not modified


def test_loss_merge_errors(reg, tmp_path):
    bad = write(tmp_path / "rm.yaml", {"extends": "t.base", "losses": [{"label": "coarce", "remove": True}]})
    with pytest.raises(ConfigError,
                       match=r"rm.yaml: losses: no loss labelled 'coarce' to remove \(did you mean 'coarse'"):
        load_recipe(bad, registry=reg)
    dup = write(tmp_path / "dup.yaml", {**BASE, "losses": [{"use": "t.pixel"}, {"use": "t.pixel"}]})
    with pytest.raises(ConfigError, match=r"dup.yaml: losses\[1\]: label 't.pixel' is used twice"):
        load_recipe(dup, registry=reg)
    new = write(tmp_path / "new.yaml", {"extends": "t.base", "losses": [{"label": "extra", "weight": 2}]})
    with pytest.raises(ConfigError,
                       match="new.yaml: losses: no loss labelled 'extra' to update; a new loss needs 'use:'"):
        load_recipe(new, registry=reg)


def test_extends_cycles(reg, tmp_path):
    write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(ConfigError, match=r"extends cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_recipe(tmp_path / "a.yaml", registry=reg)
    with pytest.raises(ConfigError, match="extends cycle: method:t.loop -> method:t.loop"):
        load_recipe("t.loop", registry=reg)


# -- errors ---------------------------------------------------------------------------------------
def test_file_errors(reg, tmp_path):
    with pytest.raises(ConfigError, match=r"recipe file .*nope.yaml does not exist"):
        load_recipe(tmp_path / "nope.yaml", registry=reg)
    broken = write(tmp_path / "broken.yaml", "steps: 10\nlosses: [\n  {use: l2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: YAML syntax error at line 4"):
        load_recipe(broken, registry=reg)
    listing = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list.yaml: a recipe must be a mapping .* got list"):
        load_recipe(listing, registry=reg)
    empty = write(tmp_path / "empty.yaml", "")
    with pytest.raises(ConfigError, match="got an empty file"):
        load_recipe(empty, registry=reg)
    python = write(tmp_path / "py.yaml", "steps: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="py.yaml: YAML syntax error"):
        load_recipe(python, registry=reg)


def test_unknown_method(reg, tmp_path):
    with pytest.raises(UnknownComponentError) as info:
        load_recipe("t.chld", registry=reg)
    assert "'t.child'" in str(info.value) and "vecrender list methods" in str(info.value)
    ext = write(tmp_path / "e.yaml", {"extends": "t.bse"})
    with pytest.raises(UnknownComponentError, match=r"e.yaml: extends: unknown method 't.bse'.*'t.base'"):
        load_recipe(ext, registry=reg)


def test_a_missing_key_is_blamed_on_the_recipe_not_the_defaults(reg, tmp_path):
    path = write(tmp_path / "nolosses.yaml", {k: v for k, v in BASE.items() if k != "losses"})
    recipe = load_recipe(path, registry=reg)
    with pytest.raises(ConfigError, match=r"^.*nolosses.yaml: losses: the recipe has no loss"):
        build_components(recipe, RunContext(width=8, height=8), reg)


@pytest.mark.parametrize(("change", "pattern"), [
    ({"stpes": 10}, r"bad.yaml: unknown top-level key 'stpes' \(did you mean 'steps'"),
    ({"steps": "ten"}, r"bad.yaml: steps: expected int, got 'ten' \(str\)"),
    ({"steps": 0}, r"bad.yaml: steps: must be >= 1, got 0"),
    ({"seeds": 1.5}, r"bad.yaml: seeds: expected int, got 1.5"),
    ({"strokes": 0}, r"bad.yaml: strokes: strokes must be >= 1"),
    ({"strokes": [4, "x"]}, r"bad.yaml: strokes\[1\]: expected int, got 'x'"),
    ({"strokes": [4, 4]}, r"bad.yaml: strokes: stroke counts must be distinct"),
    ({"canvas": -3}, r"bad.yaml: canvas.width: must be >= 1, got -3"),
    ({"canvas": {"width": 10, "hieght": 5}}, r"bad.yaml: canvas: unknown key 'hieght' \(did you mean 'height'"),
    ({"canvas": "image"}, r"bad.yaml: canvas: expected a size in pixels \(224\), \{width: W, height: H\} or 'input' "
                          r"\(the input image's size\), got 'image'"),
    ({"device": "gpu"}, r"bad.yaml: device: expected auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
    ({"video": "yes"}, r"bad.yaml: video: expected bool, got 'yes'"),
    ({"renderer": "t.flat"}, r"bad.yaml: renderer: expected a mapping with 'use: <name>'"),
    ({"renderer": {"use": "t.flt"}}, r"bad.yaml: renderer: unknown renderer 't.flt'. Did you mean 't.flat'"),
    ({"renderer": {"use": "t.flat", "sofness": 1}},
     r"bad.yaml: renderer \(t.flat\): unknown option 'sofness' \(did you mean 'softness'\?\)"),
    ({"losses": [{"use": "t.pixel", "mode": "l3"}]},
     r"bad.yaml: losses\[t.pixel\] \(t.pixel\).mode: 'l3' is not one of"),
    ({"losses": [{"use": "t.pixel", "wieght": 2}]}, r"bad.yaml: losses\[t.pixel\]: loss 't.pixel' has no option "
                                                    r"'wieght' \(did you mean 'weight'\?\)"),
    ({"losses": [{"use": "t.pixel", "weight": "big"}]},
     r"bad.yaml: losses\[t.pixel\].weight: expected float, got 'big'"),
    ({"losses": [{"use": "t.pixel", "start": 5, "stop": 5}]}, r"bad.yaml: losses\[t.pixel\].stop: must be > start"),
    ({"losses": [{"use": "t.pixel", "start": "49%", "stop": "50%"}]},  # 50 steps: both are step 25
     r"losses\[t.pixel\].stop: must be > start \(49% = step 25 of 50\), got 50% = step 25 of 50"),
    ({"losses": [{"use": "t.pixel", "stop": "110%"}]}, r"losses\[t.pixel\].stop: expected a step number or a "
                                                        r"percentage of the run's steps from 0% to 100%"),
    ({"losses": [{"use": "t.pixel", "start": "half"}]}, r"losses\[t.pixel\].start: expected a step number"),
    ({"losses": {"use": "t.pixel"}}, r"bad.yaml: losses: expected a list"),
    ({"losses": [{"use": "t.pixel", "weight": -1}]},
     r"bad.yaml: losses\[t.pixel\].weight: must be >= 0 \(0 turns the loss off\), got -1.0: a negative weight "
     r"would maximise the loss"),
    ({"losses": [{"use": "t.pixel", "start": 2}]},
     r"bad.yaml: losses: no loss with a non-zero weight is active at steps 0-1 of the run's 50 steps \(active: "
     r"t.pixel: steps 2-49\)"),
    ({"losses": [{"use": "t.pixel", "stop": "50%"}]}, r"active at steps 25-49 of the run's 50 steps"),
    ({"losses": [{"use": "t.pixel", "start": 60}]}, r"active at steps 0-49 of the run's 50 steps \(active: t.pixel: "
                                                    r"never \(it starts after the last step\)\)"),
    ({"losses": [{"use": "t.pixel", "stop": 10}, {"use": "t.pixel", "label": "late", "start": 11},
                 {"use": "t.pixel", "label": "off", "weight": 0}]},  # weight 0: never active
     r"no loss with a non-zero weight is active at step 10 of the run's 50 steps "
     r"\(active: t.pixel: steps 0-9; late: steps 11-49\)"),
    ({"canvas": 20000}, r"bad.yaml: canvas: the canvas is 20000x20000 = 400000000 pixels, over the safety limit "
                        r"of \d+ .*use a smaller canvas"),
    ({"preprocess": [{"use": "t.pad", "margin": "wide"}]},
     r"bad.yaml: preprocess\[0\] \(t.pad\).margin: expected int, got 'wide'"),
    ({"losses": [{"use": "t.pixel", "weight": float("nan")}]},
     r"bad.yaml: losses\[t.pixel\].weight: expected a finite number, got nan"),
    ({"strokes": "8,16"}, r"bad.yaml: strokes: a list of stroke counts is written \[8,16\] \(strokes=\[8,16\]\)"),
    ({"strokes": "[8,16"}, r"bad.yaml: strokes: a list of stroke counts is written \[8,16\] \(strokes"),
    ({"extends": "t.base", "method": "t.other"}, r"bad.yaml: method: 't.other', but the recipe extends method "
                                                  r"'t.base'; drop `method:`"),
    ({"seed": -1}, r"bad.yaml: seed: must lie in \[0, 4294967295\], got -1."),
    ({"seed": 2**32 - 1000, "seeds": 2}, r"bad.yaml: seeds: 2 sketches take the seeds 4294966296..4294967296 \(1000 "
                                         r"apart\), past the largest seed 4294967295"),
])
def test_strict_validation(reg, tmp_path, change, pattern):
    path = write(tmp_path / "bad.yaml", {**BASE, **change})
    with pytest.raises(ConfigError, match=pattern):
        load_recipe(path, registry=reg)


def test_errors_name_the_file_that_set_the_key(reg, tmp_path):
    write(tmp_path / "parent.yaml", {**BASE, "renderer": {"use": "t.flat", "softnes": 1}})
    child = write(tmp_path / "child.yaml", {"extends": "parent.yaml", "steps": 3})
    with pytest.raises(ConfigError, match=r"parent.yaml: renderer \(t.flat\): unknown option 'softnes'"):
        load_recipe(child, registry=reg)


def test_a_mistake_in_a_plugins_method_names_the_plugin(reg):
    """Its author has to fix it, not the user who runs it."""
    reg.add("method", Method("t.typo", "Misspelt option.", {**BASE, "renderer": {"use": "t.flat", "sofness": 1}}),
            "t", "t-plugin")
    with pytest.raises(ConfigError, match=r"^method 't.typo' of plugin 't': renderer \(t.flat\): unknown option "
                                          r"'sofness' \(did you mean 'softness'\?\)"):
        load_recipe("t.typo", registry=reg)


# -- --set ----------------------------------------------------------------------------------------
def test_set_overrides_are_parsed_as_yaml(reg):
    r = load_recipe("t.base", ["steps=100", "strokes=[8, 16]", "prompt=a: b: c", "video=true", "canvas=32",
                               "losses.coarse.weight=0.75", "renderer.samples=3", "optimizer.lr=1e-2",
                               "losses.fine.use=t.pixel", "losses.fine.mode=l1", "description=null"],
                    registry=reg)
    assert r.steps == 100 and r.strokes == [8, 16] and r.prompt == "a: b: c" and r["video"] is True
    assert (r.width, r.height) == (32, 32) and r.data["description"] is None
    assert r.losses[1]["weight"] == 0.75 and r.data["renderer"]["samples"] == 3
    assert r.data["optimizer"]["lr"] == 0.01
    assert r.losses[2] == {"use": "t.pixel", "weight": 1.0, "label": "fine", "start": 0, "stop": None, "mode": "l1"}
    assert r.where("steps") == "--set" and r.where("losses[fine]") == "--set"
    assert load_recipe("t.base", ["renderer.use=t.other"], registry=reg).data["renderer"] == {"use": "t.other"}
    from_input = load_recipe("t.base", ["canvas=input"], registry=reg)
    assert from_input.canvas_from_input and (from_input.width, from_input.height) == (None, None)
    assert load_recipe("t.base", ["losses=[]", "losses.x.use=t.pixel"], registry=reg).losses[0]["label"] == "x"
    quoted = "'Starry night' by Van Gogh"  # not YAML, but no unclosed quote: the text as written
    assert load_recipe("t.base", [f"prompt={quoted}"], registry=reg).prompt == quoted


@pytest.mark.parametrize(("override", "pattern"), [
    ("stpes=3", r"--set stpes: unknown key 'stpes' \(did you mean 'steps'"),
    ("steps=ten", r"--set: steps: expected int, got 'ten' \(str\)"),
    ("steps", r"--set 'steps': expected KEY=VALUE"),
    ("renderer.sofness=2", r"--set renderer.sofness: renderer 't.flat' has no option 'sofness' \(did you mean "
                           r"'softness'\?\)"),
    ("losses.corse.weight=0", r"--set losses.corse.weight: losses: no loss labelled 'corse' .*did you mean 'coarse'"),
    ("losses.coarse.scal=2", r"--set losses.coarse.scal: loss 't.pixel' has no option 'scal' \(did you mean 'scale'"),
    ("losses.coarse.wieght=2", r"--set losses.coarse.wieght: loss 't.pixel' has no option 'wieght' \(did you mean "
                               r"'weight'\?\)"),
    ("losses.coarse.weight=heavy", r"--set: losses\[coarse\].weight: expected float, got 'heavy'"),
    ("strokes=0", r"--set: strokes: strokes must be >= 1"),
    ("losses.coarse.start=2", None),  # the other loss covers steps 0-1
    ("losses.t.pixel.stop=50%", None),
    ("losses=[{use: t.pixel, stop: 10}]", r"--set: losses: no loss with a non-zero weight is active at steps 10-49"),
    ("renderer.use=t.nope", r"--set: renderer: unknown renderer 't.nope'"),
    ("extends=t.base", r"--set extends: unknown key 'extends'"),
    ("strokes=[8,16", r"--set strokes: '\[8,16' is not valid YAML \(expected ',' or '\]'.*Write a list as"),
    ("canvas={width: 3", r"--set canvas: '\{width: 3' is not valid YAML"),
    ("prompt='a cat", r"--set prompt: \"'a cat\" is not valid YAML .*close every quote"),
    ("renderer={use: t.flat, on: 2}", r"unknown option True \(YAML reads a bare on, off, yes, no, true or false as "
                                      r"a boolean: quote a key meant as text\)"),
    ("optimizer={use: t.sgd, 1: 2}", r"unknown option 1 \(YAML reads a bare number as a number: quote a key"),
    ("losses.coarse.start=0.5", r"losses\[coarse\].start: expected a step number or a percentage .*\(e.g. 90%, not "
                                r"0.9\), got 0.5"),
    ("losses=[{use: t.pixel, label: 5}]", r"losses\[0\]: label must be a non-empty text \(quote a number"),
    ("losses.coarse.remove=true", r"'remove: true' drops a loss in a recipe file that extends the one defining it.*"
                                  r"--set losses.LABEL.weight=0"),
    ("prompt='  '", r"--set: prompt: the text is empty"),
    ("steps=2:00", r"--set: steps: expected int, got '2:00' \(str\)"),
    ("optimizer.lr=1e300", r"--set: optimizer \(t.sgd\).lr: 1e\+300 is beyond the float32 range a run computes in "
                           r"\(magnitude at most 3.403e\+38\)"),
])
def test_set_errors(reg, override, pattern):
    if pattern is None:
        load_recipe("t.base", [override], registry=reg)
        return
    with pytest.raises(ConfigError, match=pattern):
        load_recipe("t.base", [override], registry=reg)


def test_loss_coverage_names_the_set_that_broke_it(reg):
    with pytest.raises(ConfigError, match=r"^--set: losses: no loss with a non-zero weight is active at steps 25-49"):
        load_recipe("t.base", ["losses.t.pixel.stop=50%", "losses.coarse.stop=25"], registry=reg)


def test_a_loss_that_starts_after_the_run_is_reported(reg):
    with pytest.warns(VecrenderWarning, match="loss 'coarse' starts after the run's last step \\(step 49\\), so it "
                                              "never runs"):
        load_recipe("t.base", ["losses.coarse.start=50"], registry=reg)


# -- building -------------------------------------------------------------------------------------
def test_build_components_drops_weight_zero(reg, tmp_path):
    Heavy.built = 0
    r = load_recipe("t.base", ["losses.h.use=t.heavy", "losses.h.weight=0", "losses.coarse.start=10",
                               "losses.coarse.stop=20", "preprocess=[{use: t.pad, margin: 2}]"], registry=reg)
    c = build_components(r, RunContext(width=16, height=16), reg)
    assert Heavy.built == 0 and [t.label for t in c.losses] == ["t.pixel", "coarse"]
    coarse = c.losses[1]
    assert (coarse.weight, coarse.start, coarse.stop) == (0.5, 10, 20)
    assert not coarse.active(9) and coarse.active(10) and coarse.active(19) and not coarse.active(20)
    assert coarse.loss.config.scale == 2.0 and isinstance(c.renderer, Flat) and c.renderer.config.softness == 0.5
    assert [p.config.margin for p in c.preprocessors] == [2]
    # a weight-0 loss of a plugin that is not installed is never looked up
    assert load_recipe("t.base", ["losses.gone.use=t.missing", "losses.gone.weight=0"], registry=reg).losses[-1][
        "use"] == "t.missing"
    none = load_recipe("t.base", ["losses.t.pixel.weight=0", "losses.coarse.weight=0"], registry=reg)
    with pytest.raises(ConfigError, match="no loss with a non-zero weight, so there is nothing to optimise.$"):
        build_components(none, RunContext(), reg)
    # a recipe that extends no method is told to
    bare = load_recipe(write(tmp_path / "bare.yaml", {**BASE, "losses": []}), registry=reg)
    with pytest.raises(ConfigError, match=r"bare.yaml: losses: .* add `extends: <method>`"):
        build_components(bare, RunContext(), reg)


@pytest.mark.parametrize(("overrides", "start", "stop"), [
    (["losses.coarse.start=25%", "losses.coarse.stop=90%"], 13, 45),  # 50 steps: ceil(12.5), 45
    (["steps=500", "losses.coarse.start=25%", "losses.coarse.stop=90%"], 125, 450),
    (["steps=10", "stages=[8, 8]", "strokes=16", "losses.coarse.stop=90 %"], 0, 18),  # of both stages' 20
])
def test_loss_bounds_as_shares_of_the_run(reg, overrides, start, stop):
    r = load_recipe("t.base", overrides, registry=reg)
    coarse = build_components(r, RunContext(width=16, height=16), reg).losses[1]
    assert (coarse.start, coarse.stop) == (start, stop)
    assert coarse.active(stop - 1) and not coarse.active(stop)
    assert r.losses[1]["stop"] == "90%"  # kept as written, so a resolved recipe run with --steps follows it
    assert resolved_dict(r, reg)["losses"][1]["stop"] == "90%"


def test_resolved_dict_round_trip(reg, tmp_path):
    r = load_recipe("t.child", ["losses.coarse.mode=l1"], registry=reg)
    resolved = resolved_dict(r, reg, {"t-plugin": "2.0", "vecrender": "0.1.0"})
    assert "extends" not in resolved and resolved["method"] == "t.child"
    assert resolved["renderer"] == {"use": "t.flat", "softness": 0.5, "samples": 2}
    assert resolved["optimizer"] == {"use": "t.sgd", "lr": 0.1, "params": ["points"]}
    assert resolved["losses"][1] == {"use": "t.pixel", "weight": 0.5, "label": "coarse", "start": 0, "stop": None,
                                     "scale": 2.0, "mode": "l1"}
    assert resolved["plugins"] == {"t-plugin": "2.0", "vecrender": "0.1.0"}
    text = dump_yaml(resolved)
    assert "!!" not in text and text.index("steps") < text.index("losses")
    path = write(tmp_path / "recipe.resolved.yaml", text)
    again = load_recipe(path, registry=reg)
    assert {k: v for k, v in again.data.items() if k != "plugins"} == \
        {k: v for k, v in resolved.items() if k != "plugins"}
    assert resolved_dict(again, reg, {"t-plugin": "2.0", "vecrender": "0.1.0"}) == resolved
    assert plugin_version_warnings(again, {"t-plugin": "2.0", "vecrender": "0.1.0"}) == []
    warnings = plugin_version_warnings(again, {"t-plugin": "3.0"})
    assert any("t-plugin 2.0" in w and "version 3.0" in w for w in warnings)
    assert any("vecrender 0.1.0" in w and "not installed" in w for w in warnings)
