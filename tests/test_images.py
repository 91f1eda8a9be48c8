"""Image loading (every Pillow mode, transparency, EXIF, errors) and atomic PNG output."""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from vecrender.errors import ConfigError, InputImageError, InputImageWarning, OutputError
from vecrender.images import MAX_PIXELS_ENV, check_pixels, image_to_uint8, load_image, save_png
from vecrender.io import atomic_write_text, current_umask


def rgb_array(h: int = 6, w: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_png_rgb_exact(tmp_path):
    array = rgb_array()
    Image.fromarray(array).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.shape == (1, 3, 6, 8) and image.dtype == torch.float32
    assert torch.equal(image, torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255)


def test_jpeg_and_webp(tmp_path):
    array = np.full((16, 16, 3), 200, dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "a.jpg", quality=95)
    assert load_image(tmp_path / "a.jpg").sub(200 / 255).abs().max() < 0.02
    from PIL import features

    if features.check("webp"):
        Image.fromarray(array).save(tmp_path / "a.webp", lossless=True)
        assert torch.allclose(load_image(tmp_path / "a.webp"), torch.full((1, 3, 16, 16), 200 / 255))


def test_rgba_composited_over_white(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)   # opaque red
    rgba[0, 1] = (255, 0, 0, 0)     # fully transparent: white
    rgba[1, 0] = (0, 0, 0, 102)     # 40 % black over white: 0.6
    rgba[1, 1] = (0, 0, 255, 51)    # 20 % blue
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")[0]
    assert torch.allclose(image[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(image[:, 0, 1], torch.ones(3))
    assert torch.allclose(image[:, 1, 0], torch.full((3,), 0.6), atol=1e-6)
    assert torch.allclose(image[:, 1, 1], torch.tensor([0.8, 0.8, 1.0]), atol=1e-6)


def test_la_and_palette_transparency(tmp_path):
    la = np.array([[[0, 0], [0, 255]]], dtype=np.uint8)  # transparent black, opaque black
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png")[0, :, 0].tolist() == [[1.0, 0.0]] * 3
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putdata([0, 1])
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    image = load_image(tmp_path / "p.png")[0, :, 0]
    assert image[:, 0].tolist() == [1.0, 1.0, 1.0] and image[:, 1].tolist() == [1.0, 0.0, 0.0]


def test_grayscale_and_bilevel(tmp_path):
    Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8), "L").save(tmp_path / "l.png")
    image = load_image(tmp_path / "l.png")
    assert image.shape == (1, 3, 1, 3)
    assert torch.allclose(image[0, :, 0, 1], torch.full((3,), 128 / 255))
    Image.new("1", (4, 2), 1).save(tmp_path / "b.png")
    assert load_image(tmp_path / "b.png").min() == 1.0


def test_16_bit_grayscale_uses_the_full_range(tmp_path):
    array = np.array([[0, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(array).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode in ("I;16", "I")
    image = load_image(tmp_path / "g16.png")[0, 0, 0]
    assert torch.allclose(image, torch.tensor([0.0, 32768 / 65535, 1.0]), atol=1e-6)
    Image.fromarray(np.array([[0, 65535]], dtype=np.int32), "I").save(tmp_path / "i.tiff")
    assert load_image(tmp_path / "i.tiff")[0, 0, 0].tolist() == [0.0, 1.0]


@pytest.mark.parametrize(("values", "scale"), [
    ([0, 128, 255], 255.0),  # 8-bit data in a 32-bit TIFF (or convert("I") of an L image): not near black
    ([0, 300, 65535], 65535.0),
    ([-5, 70000, 2**31 - 1], 2**31 - 1),  # negative values are black
])
def test_32_bit_grayscale_uses_the_range_its_values_need(tmp_path, values, scale):
    Image.fromarray(np.array([values], dtype=np.int32), "I").save(tmp_path / "i.tiff")
    assert Image.open(tmp_path / "i.tiff").mode == "I"
    gray = load_image(tmp_path / "i.tiff")[0, 0, 0]
    assert torch.allclose(gray, torch.tensor([max(v, 0) / scale for v in values]), atol=1e-6)


def test_16_bit_grayscale_transparent_value_is_white(tmp_path):
    Image.fromarray(np.array([[0, 30000, 65535]], dtype=np.uint16)).save(tmp_path / "t.png", transparency=0)
    assert load_image(tmp_path / "t.png")[0, 0, 0].tolist() == pytest.approx([1.0, 30000 / 65535, 1.0])


@pytest.mark.parametrize(("values", "expected"), [
    ([0.0, 0.5, 1.0], [0.0, 0.5, 1.0]),
    ([0.0, 0.8, 1.01], [0.0, 0.8, 1.0]),  # a 0-1 image that overshoots (resampling ringing): not 0-255
    ([0.0, 51.0, 255.0], [0.0, 0.2, 1.0]),
    ([0.0, 13107.0, 65535.0], [0.0, 0.2, 1.0]),
    ([0.0, 1e6, 2e6], [0.0, 0.5, 1.0]),  # beyond every range: its own maximum
])
def test_float_grayscale_uses_the_range_its_values_need(tmp_path, values, expected):
    Image.fromarray(np.array([values], dtype=np.float32), "F").save(tmp_path / "f.tiff")
    assert load_image(tmp_path / "f.tiff")[0, 0, 0].tolist() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_pixels_are_refused(tmp_path, bad):
    Image.fromarray(np.array([[0.0, bad]], dtype=np.float32), "F").save(tmp_path / "f.tiff")
    with pytest.raises(InputImageError, match=r"f\.tiff' has NaN or infinite pixels"):
        load_image(tmp_path / "f.tiff")


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # red
    red = load_image(tmp_path / "c.jpg")[0, :, 2, 2]
    assert red[0] > 0.9 and red[1] < 0.15 and red[2] < 0.15


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((10, 20, 3), dtype=np.uint8)
    array[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(array).save(tmp_path / "r.jpg", exif=exif, quality=100)
    image = load_image(tmp_path / "r.jpg")
    assert image.shape == (1, 3, 20, 10)  # displayed upright: portrait
    assert image[0, :, :8].mean() > 0.9 and image[0, :, 12:].mean() < 0.1  # white ends up on top


def test_an_animation_gives_its_first_frame_and_says_so(tmp_path):
    frames = [Image.new("RGB", (8, 6), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(InputImageWarning, match=r"a\.gif' has 2 frames; its first is used"):
        image = load_image(tmp_path / "a.gif")
    assert image.shape == (1, 3, 6, 8) and image[0, 0].min() > 0.9 and image[0, 2].max() < 0.1


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputImageError, match=r"nope\.png' does not exist; check the path"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InputImageError, match="is a directory; pass an image file"):
        load_image(tmp_path)
    os.mkfifo(tmp_path / "pipe.png")  # reading it would wait for a writer forever
    with pytest.raises(InputImageError, match=r"pipe\.png' is not a regular file"):
        load_image(tmp_path / "pipe.png")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("hello, not a PNG")
    with pytest.raises(InputImageError, match="notes.png' is not an image format Pillow can read"):
        load_image(tmp_path / "notes.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputImageError, match=r"empty.png' is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.png")


def test_truncated_png(tmp_path):
    Image.fromarray(rgb_array(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputImageError, match="cut.png'.*corrupt or truncated"):
        load_image(tmp_path / "cut.png")


def test_truncated_animation_is_an_input_error(tmp_path):
    """Pillow counts a GIF's frames by reading them; a cut frame raises IndexError (others struct.error...)."""
    cut = 2098  # inside the second frame
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "cut.gif").write_bytes((tmp_path / "a.gif").read_bytes()[:cut])
    with pytest.raises(InputImageError, match=r"cut\.gif' cannot be decoded .*corrupt or truncated"):
        load_image(tmp_path / "cut.gif")


def test_pillow_warnings_name_the_file(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 1
    Image.fromarray(rgb_array()).save(tmp_path / "e.jpg", exif=exif.tobytes()[:-4])  # cut EXIF data
    with pytest.warns(InputImageWarning, match=r"input image '.*e\.jpg': Corrupt EXIF data"):
        load_image(tmp_path / "e.jpg")


def test_decompression_bomb_guard(tmp_path, monkeypatch):
    Image.fromarray(rgb_array(20, 20)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InputImageError, match=r"20x20 = 400 pixels, over the safety limit of 100.*downscale"):
        load_image(tmp_path / "big.png")
    assert Image.MAX_IMAGE_PIXELS == 100  # restored after the guarded open
    monkeypatch.setenv(MAX_PIXELS_ENV, "400")
    assert load_image(tmp_path / "big.png").shape == (1, 3, 20, 20)
    monkeypatch.setenv(MAX_PIXELS_ENV, "-5")  # not "no limit": that is 0
    with pytest.raises(InputImageError, match=r"VECRENDER_MAX_IMAGE_PIXELS='-5' is not a whole number"):
        load_image(tmp_path / "big.png")
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(InputImageError, match="not a whole number"):
        load_image(tmp_path / "big.png")


def test_check_pixels_shares_the_input_image_limit(monkeypatch):
    monkeypatch.setenv(MAX_PIXELS_ENV, "100")
    check_pixels(10, 10, "a canvas", "use a smaller one, or")
    with pytest.raises(ConfigError, match=r"^a canvas is 11x10 = 110 pixels, over the safety limit of 100 .*; use a "
                                          r"smaller one, or set VECRENDER_MAX_IMAGE_PIXELS=110 \(0 = no limit\)\.$"):
        check_pixels(11, 10, "a canvas", "use a smaller one, or", ConfigError)
    monkeypatch.setenv(MAX_PIXELS_ENV, "0")
    check_pixels(10**6, 10**6, "a canvas", "")


def test_image_to_uint8_shapes_and_rounding():
    t = torch.tensor([0.0, 0.5, 1.2, -1.0, float("nan")]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    out = image_to_uint8(t)
    assert out.shape == (1, 5, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 128, 255, 0, 0]
    assert image_to_uint8(torch.zeros(4, 2, 3)).shape == (2, 3, 4)
    assert image_to_uint8(np.ones((2, 3, 3))).max() == 255
    with pytest.raises(ValueError, match="single image"):
        image_to_uint8(torch.zeros(2, 3, 4, 4))


def test_save_png_roundtrip_and_atomic(tmp_path):
    image = torch.rand(1, 3, 5, 7)
    save_png(tmp_path / "sub" / "out.png", image)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["out.png"]  # no temp file left
    back = load_image(tmp_path / "sub" / "out.png")
    assert (back - image).abs().max() <= 0.5 / 255 + 1e-6
    save_png(tmp_path / "rgba.png", torch.rand(4, 3, 3))
    assert Image.open(tmp_path / "rgba.png").mode == "RGBA"



@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_files_get_the_mode_open_would_give(tmp_path, umask):
    """0o666 less the umask for a new file (mkstemp alone gives 0o600); an existing file keeps its mode."""
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        save_png(tmp_path / "new.png", torch.rand(3, 2, 2))
        atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    for name in ("new.png", "new.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    (tmp_path / "new.txt").chmod(0o640)
    atomic_write_text(tmp_path / "new.txt", "y")
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_write_errors_name_the_path_and_the_reason(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(OutputError, match=r"^cannot write into .*afile: it is a file, not a folder"):
        save_png(tmp_path / "afile" / "x.png", torch.rand(3, 2, 2))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=r"^cannot write .*x.png: No space left on device"):
        save_png(tmp_path / "x.png", torch.rand(3, 2, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]  # no temporary file left behind
