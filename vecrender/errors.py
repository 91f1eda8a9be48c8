"""Errors that reach the user as one clear message (the CLI prints them without a traceback)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VecrenderError(Exception):
    """Base class: its message is complete and actionable; the CLI shows it as is."""


class ConfigError(VecrenderError):
    """A recipe or component Config is invalid (unknown key, wrong type, bad value)."""


class UnknownComponentError(ConfigError):
    """A recipe names a component that no installed plugin registers."""


class PluginError(VecrenderError):
    """A plugin failed to load or registered something invalid."""


class InputImageError(VecrenderError):
    """The input image is missing, unreadable or not an image."""


class WeightsNotFoundError(VecrenderError):
    """Pretrained weights are not available locally and could not be downloaded."""


class NonFiniteLossError(VecrenderError):
    """A loss term became NaN or infinite during optimisation."""


class OutputError(VecrenderError):
    """An output file or folder cannot be written (read-only folder, a path through a file, full disk)."""


def closest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to `word`, best first (for "did you mean" hints)."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.5)


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' or '' when nothing is close. A key that YAML read as a boolean or a
    number (``on:``, ``1:``) gets how to write it instead."""
    if not isinstance(word, str):
        bare = "on, off, yes, no, true or false as a boolean" if isinstance(word, bool) else "number as a number"
        return f" (YAML reads a bare {bare}: quote a key meant as text)"
    matches = closest(word, candidates)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"


class SvgError(VecrenderError):
    """An SVG file is missing, not well-formed XML, not an SVG document, or cannot be written."""


class VecrenderWarning(UserWarning):
    """Something the user should know that does not stop the work; the CLI prints it as one
    ``warning: ...`` line."""


class SvgImportWarning(VecrenderWarning):
    """An SVG file uses features that import leaves out or simplifies (text, clip paths, ...)."""


class InputImageWarning(VecrenderWarning):
    """An input image is read with a simplification (e.g. the first frame of an animation)."""


class RunInterrupted(VecrenderError):
    """The run was interrupted (Ctrl-C, SIGTERM or SIGHUP); best and final outputs and a checkpoint
    were written.

    ``result`` is the :class:`vecrender.runner.RunResult` of the partial run; ``signum`` the signal
    that stopped it (the CLI exits ``exit_code``: 128 + signum, 130 for Ctrl-C).
    """

    def __init__(self, message: str, result: object = None, signum: int = 2) -> None:
        super().__init__(message)
        self.result = result
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
