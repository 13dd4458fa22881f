"""DICOM files to pixels with pydicom (the ``dicom`` extra).

A DICOM file is checked from its header before its pixel data is decoded
(:func:`header_problem`): it must hold an image whose photometric interpretation the
package can turn into grey levels or RGB (:data:`PHOTOMETRIC_INTERPRETATIONS`), and
pydicom must have a decoder for its transfer syntax. Compressed transfer syntaxes need
decoder plugins (pylibjpeg, python-gdcm, pyjpegls); which ones, pydicom itself says
(``pydicom.pixels.get_decoder(uid).missing_dependencies``), and
:func:`transfer_syntax_problem` turns that into the ``pip install`` line to run.

:func:`read_dicom` then decodes the first frame (pydicom 3, ``pydicom.pixels``;
DICOM PS3.3 C.7.6.3.1.2 for the photometric interpretations):

* MONOCHROME2: the stored values, bright = high;
* MONOCHROME1: the stored values negated (bright = low in the file), so that the
  image looks as displayed once z-scored;
* PALETTE COLOR: the stored values are indices into the palette tables, applied with
  ``pydicom.pixels.apply_color_lut``;
* RGB as stored; YBR_FULL and YBR_FULL_422 converted to RGB by pydicom's decoding
  (``pixel_array(..., raw=False)``); YBR_ICT and YBR_RCT (JPEG 2000) come out of the
  JPEG 2000 decoder as RGB.

No rescale (modality LUT) or windowing (VOI LUT) is applied: the per-image z-score
that follows makes a positive linear rescale irrelevant, and windowing would clip the
stored values.
"""

from __future__ import annotations

import functools
import re

import numpy as np

__all__ = [
    "DICOM_HINT",
    "PHOTOMETRIC_INTERPRETATIONS",
    "DicomError",
    "first_line",
    "header_problem",
    "pydicom_module",
    "read_dicom",
    "read_header",
    "transfer_syntax_problem",
]

DICOM_HINT = "install the dicom extra: pip install disentangle_tf[dicom]"

PHOTOMETRIC_INTERPRETATIONS = (
    "MONOCHROME1",
    "MONOCHROME2",
    "PALETTE COLOR",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_ICT",
    "YBR_RCT",
)
"""Photometric interpretations read (DICOM PS3.3 C.7.6.3.1.2); others are refused."""

_PIP_NAMES = {"gdcm": "python-gdcm"}
"""pip names of the packages pydicom names differently (by their import name)."""


class DicomError(ValueError):
    """A DICOM file that cannot be read; the message says why, without the file name."""


def first_line(error: object) -> str:
    """The first non-empty line of an error's message (or its type's name).

    pydicom and Pillow put details on further lines; a one-line report keeps the first.
    """
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def pydicom_module():
    """The ``pydicom`` module, or None if it is not installed."""
    try:
        import pydicom
    except ImportError:
        return None
    return pydicom


def _install_options(missing_dependencies) -> list[str]:
    """``pip install`` arguments, one per decoder plugin, from pydicom's description.

    ``missing_dependencies`` is ``Decoder.missing_dependencies``: entries such as
    ``"pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1"``. numpy is
    left out (pydicom's pixel decoding already needs it); plugins based on GDCM come
    last (a compiled library, the heavier install).
    """
    options = []
    for entry in missing_dependencies:
        label, _, requires = entry.partition(" - requires ")
        if not requires:
            continue
        names = []
        for requirement in re.split(r",\s*|\s+and\s+", requires):
            name = re.split(r"[<>=!~\s\[]", requirement.strip(), maxsplit=1)[0]
            if name and name != "numpy":
                names.append(_PIP_NAMES.get(name, name))
        if names:
            options.append((label.strip() == "gdcm", " ".join(names)))
    return [names for _, names in sorted(options, key=lambda option: option[0])]


@functools.lru_cache(maxsize=None)
def transfer_syntax_problem(uid: str) -> str | None:
    """None if pydicom can decode pixel data of transfer syntax ``uid``, else why not.

    The reason names the transfer syntax and its UID and, for a compressed syntax whose
    decoder plugins are not installed, the packages to install (from
    ``pydicom.pixels.get_decoder(uid).missing_dependencies``), e.g. ``"pixel data is
    JPEG Lossless ... (1.2.840.10008.1.2.4.70); no decoder installed: pip install
    pylibjpeg pylibjpeg-libjpeg (or python-gdcm)"``. Cached: plugins do not come and go
    while a process runs.
    """
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(str(uid).strip())
    described = f"{uid.name} ({uid})" if uid.name != str(uid) else str(uid)
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"pixel data is {described}, a transfer syntax pydicom cannot decode"
    if decoder.is_available:
        return None
    options = _install_options(decoder.missing_dependencies)
    if not options:
        return f"pixel data is {described}; no decoder for it is available"
    alternatives = f" (or {' or '.join(options[1:])})" if len(options) > 1 else ""
    return f"pixel data is {described}; no decoder installed: pip install {options[0]}{alternatives}"


def read_header(path):
    """The data set of a DICOM file without its pixel data (``stop_before_pixels``).

    Raises:
        DicomError: pydicom is missing, or the file cannot be parsed.
    """
    pydicom = pydicom_module()
    if pydicom is None:
        raise DicomError(f"is a DICOM file; {DICOM_HINT}")
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception as error:  # pydicom raises many kinds of errors
        raise DicomError(f"cannot parse the DICOM header: {first_line(error)}") from None


def header_problem(header) -> str | None:
    """None if the pixel data of a DICOM data set can be read, else why not (one line).

    Checks, from the header alone, that it describes an image (Rows, Columns), that its
    PhotometricInterpretation is one of :data:`PHOTOMETRIC_INTERPRETATIONS` and that a
    decoder for its transfer syntax is installed (:func:`transfer_syntax_problem`).
    """
    if "Rows" not in header or "Columns" not in header:
        return "a DICOM file without an image (no Rows / Columns)"
    photometric = str(header.get("PhotometricInterpretation", "")).strip()
    if photometric not in PHOTOMETRIC_INTERPRETATIONS:
        shown = repr(photometric) if photometric else "missing"
        return (
            f"PhotometricInterpretation {shown} is not supported; expected one of: "
            + ", ".join(PHOTOMETRIC_INTERPRETATIONS)
        )
    meta = getattr(header, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if not uid:
        return "a DICOM file without a transfer syntax in its file meta information"
    return transfer_syntax_problem(str(uid))


def read_dicom(path) -> np.ndarray:
    """The first frame of a DICOM image as float32 grey ``(h, w)`` or RGB ``(h, w, 3)``.

    See the module description for what each photometric interpretation becomes.

    Raises:
        DicomError: pydicom is missing, the header fails :func:`header_problem`, or the
            pixel data cannot be decoded (pydicom's reason).
    """
    from pydicom.pixels import apply_color_lut, pixel_array

    header = read_header(path)
    problem = header_problem(header)
    if problem:
        raise DicomError(problem)
    photometric = str(header.PhotometricInterpretation).strip()
    try:
        frame = pixel_array(str(path), index=0)
        if photometric == "PALETTE COLOR":
            frame = apply_color_lut(frame, header)
    except Exception as error:  # pydicom raises many kinds of errors
        raise DicomError(f"cannot decode the {photometric} pixel data: {first_line(error)}") from None
    samples = 1 if photometric.startswith("MONOCHROME") else 3
    if frame.shape[2:] != ((3,) if samples == 3 else ()) or frame.ndim != (2 if samples == 1 else 3):
        raise DicomError(
            f"{photometric} pixel data has shape {frame.shape}; expected one frame of "
            f"{samples} sample{'s' if samples > 1 else ''} per pixel"
        )
    frame = frame.astype(np.float32)
    if photometric == "MONOCHROME1":
        frame = -frame
    return frame
