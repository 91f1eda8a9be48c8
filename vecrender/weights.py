"""Find a pretrained weight file, or explain in one paragraph how to get it.

:func:`resolve_weights` looks in this order and returns the first file that exists:

1. an explicit path (a recipe option), then the spec's environment variable;
2. the project-local ``./checkpoint/<subdir>/<filename>`` (the layout PyTorch-SVGRender uses);
3. the user cache ``cache_dir()/<subdir>/<filename>``;
4. a download from ``spec.url`` into the user cache (urllib, written to a temporary file, checked
   against ``spec.checksum``, then renamed), unless offline (``VECRENDER_OFFLINE=1``).

When all fail it raises :class:`~vecrender.errors.WeightsNotFoundError` naming the file, every
place looked at and how to get it. Only the standard library and torch are used here.

Example::

    U2NET = WeightSpec(name="U2Net", filename="u2net.pth", subdir="u2net",
                       env_var="VECRENDER_U2NET", url="https://.../u2net.zip")
    path = resolve_weights(U2NET, explicit=config.weights)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecrender.errors import WeightsNotFoundError

#: Seconds before a download that makes no progress is abandoned.
DOWNLOAD_TIMEOUT = 30.0


@dataclass(frozen=True)
class WeightSpec:
    """Where a weight file lives and how to fetch it.

    name:     human name used in messages (``"U2Net background masking"``).
    filename: the file's name (``"u2net.pth"``).
    subdir:   folder under ``./checkpoint`` and under the cache (``"u2net"``).
    env_var:  environment variable holding an explicit path, or None.
    url:      download address, or None when the file cannot be downloaded automatically. A
              ``.zip`` URL is an archive: the member whose name ends with ``filename`` is used.
    checksum: ``"sha256:<hex>"`` (or ``"md5:<hex>"`` where only that is published) of the final
              file, verified after a download; None skips verification.
    note:     extra sentence for the error message (licence, size, manual steps).
    """

    name: str
    filename: str
    subdir: str
    env_var: str | None = None
    url: str | None = None
    checksum: str | None = None
    note: str = ""


def cache_dir() -> Path:
    """The user cache: ``$VECRENDER_CACHE``, else ``$XDG_CACHE_HOME/vecrender``, else ~/.cache/vecrender."""
    explicit = os.environ.get("VECRENDER_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vecrender"


def offline() -> bool:
    """True when downloads are disabled (``VECRENDER_OFFLINE=1``, or HF_HUB_OFFLINE=1)."""
    return any(os.environ.get(v, "") not in ("", "0") for v in ("VECRENDER_OFFLINE", "HF_HUB_OFFLINE"))


def unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why `url`'s host cannot be reached (a few seconds at most), or None when it can.

    Checked before a download so that a machine without internet gets the missing-weights message at
    once, instead of after a download library's retries and back-off.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None  # a local file:// source needs no network
    host = parts.hostname
    try:
        socket.create_connection((host, parts.port or (443 if parts.scheme == "https" else 80)),
                                 timeout=timeout).close()
    except OSError as exc:
        return f"there is no connection to {host} ({exc.strerror or type(exc).__name__})"
    return None


def candidate_paths(spec: WeightSpec, explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """(label, path) of every local place :func:`resolve_weights` looks at, in order."""
    out: list[tuple[str, Path]] = []
    if explicit:
        out.append(("the configured path", Path(explicit).expanduser()))
    if spec.env_var and os.environ.get(spec.env_var):
        out.append((f"${spec.env_var}", Path(os.environ[spec.env_var]).expanduser()))
    out.append(("the project checkpoint folder", Path.cwd() / "checkpoint" / spec.subdir / spec.filename))
    out.append(("the user cache", cache_dir() / spec.subdir / spec.filename))
    return out


def resolve_weights(spec: WeightSpec, explicit: str | os.PathLike | None = None,
                    download: bool | None = None) -> Path:
    """Path of an existing weight file for `spec`; downloads it when allowed.

    `download`: None = download unless :func:`offline`; False never; True always try.
    Raises WeightsNotFoundError (one paragraph) when no file is found or fetched.
    """
    looked = candidate_paths(spec, explicit)
    for _, path in looked:
        if path.is_file():
            return path
    if explicit or (spec.env_var and os.environ.get(spec.env_var)):
        # A path the user named that does not exist is a mistake; do not silently download.
        raise WeightsNotFoundError(missing_message(spec, looked, None))
    allowed = (not offline()) if download is None else download
    failure: str | None = "downloads are disabled (VECRENDER_OFFLINE)" if not allowed else None
    if allowed and spec.url:
        failure = unreachable(spec.url)
    if allowed and spec.url and failure is None:
        target = cache_dir() / spec.subdir / spec.filename
        try:
            fetch(spec.url, target, spec.filename, spec.checksum)
            return target
        except Exception as exc:  # any network or checksum failure becomes the one message
            failure = f"the download from {spec.url} failed ({type(exc).__name__}: {exc})"
    raise WeightsNotFoundError(missing_message(spec, looked, failure))


def missing_message(spec: WeightSpec, looked: list[tuple[str, Path]], failure: str | None) -> str:
    """One paragraph: what is missing, where we looked, and how to get it."""
    places = "; ".join(f"{label} {path}" for label, path in looked)
    parts = [f"Weights for {spec.name} ({spec.filename}) were not found. Looked at: {places}."]
    if failure:
        parts.append(f"Automatic download was not possible: {failure}.")
    parts.append(how_to_get(spec))
    if spec.note:
        parts.append(spec.note)
    return " ".join(parts)


def how_to_get(spec: WeightSpec) -> str:
    """The sentence that says where to get `spec`'s file and where to put it."""
    cache_target = cache_dir() / spec.subdir / spec.filename
    project_target = Path("checkpoint") / spec.subdir / spec.filename
    how = (f"Download it from {spec.url} " if spec.url else "Obtain it ")
    if spec.url and spec.url.endswith(".zip"):
        how += f"(a zip archive: extract {spec.filename}) "
    how += f"and put it at {cache_target} or {project_target}"
    if spec.env_var:
        how += f", or set {spec.env_var}=/path/to/{spec.filename}"
    return how + "."


def unusable_weights(what: str, path: Path, problem: BaseException | str, remedy: str) -> WeightsNotFoundError:
    """The one-paragraph error for a weight file that is there but cannot be used: truncated,
    damaged, not a checkpoint, or another model's."""
    if isinstance(problem, BaseException):
        first = (str(problem).strip().splitlines() or [""])[0].split(". ")[0]  # libraries' advice is not ours
        problem = f"{type(problem).__name__}: {first[:200]}"
    return WeightsNotFoundError(f"The {what} file {path} cannot be used ({problem}): it is truncated, damaged or "
                                f"holds another model's weights. {remedy}")


def load_checkpoint(path: Path, what: str, remedy: str) -> Any:
    """``torch.load`` of a weight file (tensors only), or :func:`unusable_weights`' error."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise unusable_weights(what, path, exc, remedy) from None


def fetch(url: str, target: Path, member: str | None = None, checksum: str | None = None) -> Path:
    """Download `url` to `target` atomically (temporary file + rename), verifying `checksum`.

    A ``.zip`` URL is unpacked: the member whose name ends with `member` becomes `target`.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
        if url.lower().split("?")[0].endswith(".zip"):
            _extract_member(tmp, member or target.name)
        if checksum:
            verify_checksum(tmp, checksum)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _extract_member(archive: Path, member: str) -> None:
    """Replace the zip file `archive` by its member whose name ends with `member`."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == member]
        if not names:
            raise FileNotFoundError(f"the archive holds no {member}")
        data_tmp = archive.with_suffix(".member")
        with zf.open(names[0]) as src, open(data_tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
    os.replace(data_tmp, archive)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: Path, checksum: str) -> None:
    """Raise ValueError unless the file matches ``"sha256:<hex>"`` / ``"md5:<hex>"`` (bare hex = sha256)."""
    algorithm, _, expected = checksum.rpartition(":")
    algorithm = algorithm or "sha256"
    actual = file_digest(path, algorithm)
    if actual.lower() != expected.lower():
        raise ValueError(f"{algorithm} checksum mismatch: expected {expected}, got {actual}")
