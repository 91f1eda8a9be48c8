"""Weight-file resolution: search order, download with checksum, and the one-paragraph error."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from vecrender.errors import WeightsNotFoundError
from vecrender.weights import WeightSpec, cache_dir, resolve_weights, verify_checksum


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An isolated cwd and cache; downloads allowed unless a test disables them."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("VECRENDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VECRENDER_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("VECRENDER_TEST_W", raising=False)
    return tmp_path


def spec(**kw) -> WeightSpec:
    base = dict(name="Test net", filename="net.pth", subdir="net", env_var="VECRENDER_TEST_W")
    base.update(kw)
    return WeightSpec(**base)


def put(path: Path, data: bytes = b"weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("VECRENDER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "vecrender"
    monkeypatch.setenv("VECRENDER_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_search_order(env, monkeypatch):
    s = spec()
    cached = put(env / "cache" / "net" / "net.pth")
    assert resolve_weights(s, download=False) == cached
    project = put(Path.cwd() / "checkpoint" / "net" / "net.pth")
    assert resolve_weights(s, download=False) == project
    via_env = put(env / "env.pth")
    monkeypatch.setenv("VECRENDER_TEST_W", str(via_env))
    assert resolve_weights(s, download=False) == via_env
    explicit = put(env / "explicit.pth")
    assert resolve_weights(s, explicit=explicit, download=False) == explicit


def test_named_path_missing_is_an_error_without_download(env):
    src = put(env / "remote.pth")
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_weights(spec(url=src.as_uri()), explicit=env / "typo.pth")
    assert "typo.pth" in str(err.value)
    assert not (env / "cache" / "net" / "net.pth").exists()


def test_download_verifies_sha256_and_writes_atomically(env):
    data = b"\x00pretend weights" * 100
    src = put(env / "remote.pth", data)
    digest = hashlib.sha256(data).hexdigest()
    path = resolve_weights(spec(url=src.as_uri(), checksum=f"sha256:{digest}"))
    assert path == env / "cache" / "net" / "net.pth"
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == ["net.pth"]  # no temporary left behind


def test_checksum_mismatch_leaves_nothing(env):
    src = put(env / "remote.pth", b"corrupted")
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_weights(spec(url=src.as_uri(), checksum="sha256:" + "0" * 64))
    assert "checksum mismatch" in str(err.value)
    assert list((env / "cache" / "net").iterdir()) == []


def test_zip_archive_member_is_extracted(env):
    archive = env / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("models/readme.txt", "x")
        zf.writestr("models/net.pth", b"inside")
    path = resolve_weights(spec(url=archive.as_uri(), checksum="md5:" + hashlib.md5(b"inside").hexdigest()))
    assert path.read_bytes() == b"inside"


def test_offline_message_is_one_actionable_paragraph(env, monkeypatch):
    monkeypatch.setenv("VECRENDER_OFFLINE", "1")
    s = spec(url="https://example.org/net.zip")
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_weights(s)
    msg = str(err.value)
    assert "\n" not in msg
    for needle in ("net.pth", str(Path.cwd() / "checkpoint" / "net" / "net.pth"),
                   str(env / "cache" / "net" / "net.pth"), "https://example.org/net.zip",
                   "VECRENDER_TEST_W", "VECRENDER_OFFLINE", "extract net.pth"):
        assert needle in msg, needle


def test_verify_checksum_bare_hex_is_sha256(tmp_path):
    f = put(tmp_path / "f", b"abc")
    verify_checksum(f, hashlib.sha256(b"abc").hexdigest())
    with pytest.raises(ValueError):
        verify_checksum(f, "md5:" + "1" * 32)


def test_no_network_fails_fast_with_the_one_paragraph(env, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_weights(spec(url="https://example.org/net.pth"))
    message = str(err.value)
    assert "there is no connection to example.org (Name or service not known)" in message
    assert "https://example.org/net.pth" in message and "\n" not in message
