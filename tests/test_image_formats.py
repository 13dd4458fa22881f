"""Every supported image format is decoded at full precision with its colour model and
orientation applied; files that cannot be interpreted are refused with one line.

Each test writes its own files (Pillow, pydicom, numpy) with a known pixel pattern and
compares the decoded pixels with that pattern.
"""

import numpy as np
import pytest
from PIL import Image, ImageOps

from disentangle_tf.data import images as images_module
from disentangle_tf.data.images import ImageReadError, load_images, read_images, read_pixels

LUMA = np.array([0.2989, 0.5870, 0.1140], np.float32)  # ITU-R BT.601, as documented


def _pattern(height=16, width=20, low=0, high=255, dtype=np.uint8):
    """A grey pattern with many levels: a ramp along the columns, offset by row."""
    ramp = np.linspace(low, high, width)[None, :] * 0.75 + np.linspace(0, high - low, height)[:, None] * 0.25
    return np.round(ramp).astype(dtype)


def _rgb_pattern(height=16, width=20):
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (height, width, 3)).astype(np.uint8)


def _blocks(height=16, width=24):
    """Flat blocks (JPEG keeps them nearly exactly): bright top-left, mid top-right."""
    pixels = np.full((height, width), 20, np.uint8)
    pixels[: height // 2, : width // 2] = 230
    pixels[: height // 2, width // 2:] = 120
    return pixels


# ----------------------------------------------------------------- Pillow formats


def test_16_bit_png_keeps_every_grey_level(tmp_path):
    pixels = np.tile(np.linspace(0, 4095, 64).astype(np.uint16), (8, 1))  # 12-bit data
    path = tmp_path / "ramp.png"
    Image.fromarray(pixels).save(path)  # mode I;16: a 16-bit greyscale PNG
    decoded = read_pixels(path)
    np.testing.assert_array_equal(decoded[..., 0], pixels.astype(np.float32))
    model_input = read_images([path], (8, 64))[0, ..., 0]
    assert np.unique(np.round(model_input, 5)).size == 64


def test_16_bit_colour_png_keeps_every_level(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 65536, (6, 9, 3)).astype(np.uint16)
    path = tmp_path / "colour16.png"
    tf.io.write_file(str(path), tf.io.encode_png(pixels))
    np.testing.assert_array_equal(read_pixels(path, channels=3), pixels.astype(np.float32))
    with_alpha = np.concatenate([pixels, np.full((6, 9, 1), 7, np.uint16)], -1)
    tf.io.write_file(str(path), tf.io.encode_png(with_alpha))
    np.testing.assert_array_equal(read_pixels(path, channels=3), pixels.astype(np.float32))


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("channels", [1, 3])
def test_bmp_grey_and_colour_with_one_and_three_channels(tmp_path, mode, channels):
    pixels = _pattern() if mode == "L" else _rgb_pattern()
    path = tmp_path / "image.bmp"
    Image.fromarray(pixels, mode).save(path, format="BMP")
    decoded = read_pixels(path, channels)
    assert decoded.shape == (*pixels.shape[:2], channels)
    if mode == "L":
        expected = np.repeat(pixels[..., None], channels, -1)
    else:
        expected = pixels if channels == 3 else pixels.astype(np.float32) @ LUMA
    np.testing.assert_allclose(decoded, np.reshape(expected, decoded.shape), atol=1e-3)


@pytest.mark.parametrize("kind", ["PNG", "GIF", "BMP"])
def test_palette_images_are_looked_up(tmp_path, kind):
    indices = (np.arange(16 * 20).reshape(16, 20) % 7).astype(np.uint8)
    palette = np.zeros((256, 3), np.uint8)
    palette[:7] = [[250, 0, 0], [0, 250, 0], [0, 0, 250], [10, 20, 30], [200, 200, 200], [90, 0, 180], [5, 5, 5]]
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.reshape(-1).tolist())
    path = tmp_path / f"palette.{kind.lower()}"
    image.save(path, format=kind)
    np.testing.assert_array_equal(read_pixels(path, channels=3), palette[indices].astype(np.float32))
    np.testing.assert_allclose(read_pixels(path)[..., 0], palette[indices].astype(np.float32) @ LUMA, atol=1e-3)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    cmyk = np.zeros((16, 24, 4), np.uint8)
    cmyk[:, :12, 0] = 255  # cyan ink: red absorbed
    cmyk[:, 12:, 3] = 255  # black ink
    path = tmp_path / "print.jpg"
    Image.fromarray(cmyk, "CMYK").save(path, quality=95)
    decoded = read_pixels(path, channels=3)
    np.testing.assert_allclose(decoded[:, :8], np.broadcast_to([0, 255, 255], (16, 8, 3)), atol=6)
    np.testing.assert_allclose(decoded[:, 16:], np.zeros((16, 8, 3)), atol=6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_does(tmp_path, orientation):
    pixels = _blocks()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "oriented.png"
    Image.fromarray(pixels).save(path, exif=exif.tobytes())
    with Image.open(path) as image:
        upright = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(read_pixels(path)[..., 0], upright.astype(np.float32))


def test_exif_rotated_jpeg_comes_out_rotated(tmp_path):
    pixels = _blocks()  # 16 x 24, bright block top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    path = tmp_path / "camera.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())
    decoded = read_pixels(path)[..., 0]
    expected = np.rot90(pixels, -1).astype(np.float32)  # 24 x 16, bright block top-right
    assert decoded.shape == (24, 16)
    np.testing.assert_allclose(decoded, expected, atol=8)


def test_rgba_drops_alpha(tmp_path):
    rgb = _rgb_pattern()
    alpha = np.linspace(0, 255, rgb.shape[0] * rgb.shape[1]).reshape(rgb.shape[:2]).astype(np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    np.testing.assert_array_equal(read_pixels(path, channels=3), rgb.astype(np.float32))
    np.testing.assert_allclose(read_pixels(path)[..., 0], rgb.astype(np.float32) @ LUMA, atol=1e-3)


def test_16_bit_tiff(tmp_path):
    pixels = _pattern(low=0, high=60000, dtype=np.uint16)
    path = tmp_path / "scan.tif"
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(read_pixels(path)[..., 0], pixels.astype(np.float32))


def test_the_content_chooses_the_decoder_not_the_name(tmp_path):
    pixels = _blocks()
    path = tmp_path / "really_a_jpeg.png"
    Image.fromarray(pixels).save(path, format="JPEG", quality=95)
    np.testing.assert_allclose(read_pixels(path)[..., 0], pixels.astype(np.float32), atol=8)


def test_a_text_file_named_png_is_refused_in_one_line(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("patient list\nsecond line\n")
    with pytest.raises(ImageReadError) as caught:
        load_images([path], (8, 8))
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot decode: not a PNG, JPEG, BMP, GIF, TIFF or DICOM file")
    assert "\n" not in message and "corrupt" not in message


def test_an_unsupported_colour_model_is_refused_naming_it(tmp_path):
    path = tmp_path / "lab.tif"
    Image.new("LAB", (6, 4), (50, 10, 10)).save(path)
    with pytest.raises(ImageReadError, match=r"lab\.tif: TIFF with Pillow image mode 'LAB'"):
        read_pixels(path)


# ------------------------------------------------------------------------ DICOM


def _dicom(path, pixels, photometric="MONOCHROME2", transfer_syntax=None, frames=None, **extra):
    """Write a small synthetic DICOM file (no patient data) holding ``pixels``."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    storage = "1.2.840.10008.5.1.4.1.1.6.1"  # Ultrasound Image Storage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax or ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = storage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "US"
    shape = pixels.shape[1:] if frames else pixels.shape
    dataset.Rows, dataset.Columns = shape[:2]
    dataset.SamplesPerPixel = shape[2] if len(shape) == 3 else 1
    if dataset.SamplesPerPixel > 1:
        dataset.PlanarConfiguration = 0
    if frames:
        dataset.NumberOfFrames = frames
    dataset.PhotometricInterpretation = photometric
    bits = 8 * pixels.dtype.itemsize
    dataset.BitsAllocated = dataset.BitsStored = bits
    dataset.HighBit = bits - 1
    dataset.PixelRepresentation = 0
    for keyword, value in extra.items():
        setattr(dataset, keyword, value)
    if "PixelData" not in extra:
        dataset.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    pydicom.dcmwrite(path, dataset, enforce_file_format=True)
    return path


def test_dicom_monochrome2_and_monochrome1(tmp_path):
    pixels = _pattern(low=100, high=4000, dtype=np.uint16)
    plain = _dicom(tmp_path / "plain.dcm", pixels)
    inverted = _dicom(tmp_path / "inverted.dcm", pixels, "MONOCHROME1")
    np.testing.assert_array_equal(read_pixels(plain)[..., 0], pixels.astype(np.float32))
    # MONOCHROME1 stores bright as low: once z-scored it is the negative of MONOCHROME2.
    a, b = read_images([plain, inverted], (8, 10))
    np.testing.assert_allclose(b, -a, atol=1e-5)


def test_dicom_palette_color_bright_half_stays_bright(tmp_path):
    indices = np.full((16, 20), 200, np.uint8)
    indices[:8] = 10
    lut = np.arange(256, dtype=np.uint16)[::-1] * 257  # index i shows grey 255 - i
    tables = {}
    for colour in ("Red", "Green", "Blue"):
        tables[f"{colour}PaletteColorLookupTableDescriptor"] = [256, 0, 16]
        tables[f"{colour}PaletteColorLookupTableData"] = lut.astype("<u2").tobytes()
    path = _dicom(tmp_path / "palette.dcm", indices, "PALETTE COLOR", **tables)
    np.testing.assert_array_equal(read_pixels(path, channels=3), np.repeat(lut[indices][..., None], 3, -1))
    image = read_images([path], (16, 20))[0, ..., 0]
    assert image[:8].mean() > 0.9 and image[8:].mean() < -0.9


def test_dicom_rgb_and_ybr_full(tmp_path):
    rgb = _rgb_pattern().astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # DICOM PS3.3 C.7.6.3.1.2, YBR_FULL from RGB.
    ybr = np.stack([
        0.2990 * r + 0.5870 * g + 0.1140 * b,
        -0.1687 * r - 0.3313 * g + 0.5000 * b + 128,
        0.5000 * r - 0.4187 * g - 0.0813 * b + 128,
    ], -1)
    plain = _dicom(tmp_path / "rgb.dcm", rgb.astype(np.uint8), "RGB")
    converted = _dicom(tmp_path / "ybr.dcm", np.clip(np.round(ybr), 0, 255).astype(np.uint8), "YBR_FULL")
    np.testing.assert_array_equal(read_pixels(plain, channels=3), rgb.astype(np.float32))
    np.testing.assert_allclose(read_pixels(converted, channels=3), rgb, atol=2.5)
    np.testing.assert_allclose(read_pixels(plain)[..., 0], rgb.astype(np.float32) @ LUMA, atol=1e-3)


def test_dicom_multi_frame_reads_the_first_frame(tmp_path):
    frames = np.stack([_pattern(), 255 - _pattern(), np.zeros((16, 20), np.uint8)])
    path = _dicom(tmp_path / "cine.dcm", frames, frames=3)
    np.testing.assert_array_equal(read_pixels(path)[..., 0], frames[0].astype(np.float32))


def test_dicom_unknown_photometric_interpretation_is_refused_naming_it(tmp_path):
    path = _dicom(tmp_path / "hsv.dcm", _rgb_pattern(), "HSV")
    with pytest.raises(ImageReadError, match=r"hsv\.dcm: PhotometricInterpretation 'HSV' is not supported"):
        read_pixels(path)
    with pytest.raises(ImageReadError, match="'HSV'") as caught:
        read_images([path], (8, 8))
    assert caught.value.index == 0


def test_compressed_dicom_without_decoder_is_refused_before_decoding(tmp_path, monkeypatch):
    pytest.importorskip("pydicom")
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLosslessSV1

    if get_decoder(JPEGLosslessSV1).is_available:
        pytest.skip("a JPEG Lossless decoder is installed here")
    first = tmp_path / "first.png"
    Image.fromarray(_pattern()).save(first)
    compressed = _dicom(tmp_path / "lossless.dcm", _pattern(), transfer_syntax=JPEGLosslessSV1,
                        PixelData=encapsulate([b"\xff\xd8\xff\xd9"]))

    def decode(*args, **kwargs):
        raise AssertionError("a file was decoded before the decoders were checked")

    monkeypatch.setattr(images_module, "read_pixels", decode)
    with pytest.raises(ImageReadError) as caught:
        load_images([first, compressed], (8, 8))
    message = str(caught.value)
    assert message.startswith(f"{compressed}: pixel data is JPEG Lossless")
    assert "(1.2.840.10008.1.2.4.70)" in message
    assert "pip install pylibjpeg pylibjpeg-libjpeg" in message and "python-gdcm" in message
    assert "\n" not in message and caught.value.index == 1


def test_a_broken_dicom_is_refused_in_one_line(tmp_path):
    path = tmp_path / "cut.dcm"
    data = _dicom(tmp_path / "whole.dcm", _pattern()).read_bytes()
    path.write_bytes(data[: len(data) - 100])  # pixel data cut short
    with pytest.raises(ImageReadError) as caught:
        read_pixels(path)
    assert str(caught.value).startswith(f"{path}: cannot decode the MONOCHROME2 pixel data")
    assert "\n" not in str(caught.value)


def test_dicom_images_are_found_by_content_whatever_their_name(tmp_path):
    pixels = _pattern()
    path = _dicom(tmp_path / "export_0001", pixels)  # no extension, as some systems export
    np.testing.assert_array_equal(read_pixels(path)[..., 0], pixels.astype(np.float32))


def test_signatures_name_the_format():
    from disentangle_tf.data.images import sniff_format

    assert sniff_format(b"\x89PNG\r\n\x1a\n" + bytes(10)) == "PNG"
    assert sniff_format(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff_format(bytes(128) + b"DICM") == "DICOM"
    assert sniff_format(b"hello") is None
