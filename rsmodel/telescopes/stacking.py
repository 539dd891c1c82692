"""Deep-sky co-addition: frame weights from FWHM and SNR, and a weighted ``coadd``.

Weights are inverse-variance style: ``w = snr^2 * (fwhm_median / fwhm)^2`` with ``snr`` the
frame's peak source SNR (a frame normalised to unit peak has noise variance ``1 / snr^2``) and a
seeing penalty. A frame is rejected (weight 0) when its FWHM exceeds ``max_fwhm_factor`` x the
median FWHM or its SNR is below ``min_snr_factor`` x the median SNR — whoever contributed it.

Why a bad frame cannot hurt: adding a frame with weight ``w`` raises the stacked peak SNR for
every ``0 < w <= w_opt`` (``w_opt`` = peak / noise variance, the SNR-optimal weight). For a
frame no sharper and no higher in SNR than the median, ``w`` above is at most ``w_opt``
relative to the median frames, so it is either rejected or helps. A session stacks frames of
one telescope family only (:func:`session_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsmodel.errors import ModelError
from rsmodel.io import atomic_write

MAX_FWHM_FACTOR = 1.5
MIN_SNR_FACTOR = 0.5


@dataclass(frozen=True)
class Frame:
    """One exposure: who took it, its family, seeing (arcsec) and source SNR; ``image`` optional."""

    telescope: str
    family: str
    fwhm_arcsec: float
    snr: float
    image: np.ndarray | None = None


def frame_weights(
    fwhm: np.ndarray,
    snr: np.ndarray,
    *,
    max_fwhm_factor: float = MAX_FWHM_FACTOR,
    min_snr_factor: float = MIN_SNR_FACTOR,
) -> np.ndarray:
    """Normalised co-addition weights (sum 1; 0 for rejected frames)."""
    fwhm, snr = np.asarray(fwhm, dtype=float), np.asarray(snr, dtype=float)
    if fwhm.size == 0:
        return fwhm
    med_fwhm, med_snr = np.median(fwhm), np.median(snr)
    keep = (
        (fwhm <= max_fwhm_factor * med_fwhm)
        & (snr >= min_snr_factor * med_snr)
        & (snr > 0)
        & (fwhm > 0)
    )
    w = np.where(keep, snr**2 * (med_fwhm / np.where(fwhm > 0, fwhm, 1.0)) ** 2, 0.0)
    total = w.sum()
    if total <= 0:
        raise ValueError("every frame was rejected (FWHM / SNR); nothing to stack")
    return w / total


def coadd(images: np.ndarray | list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted mean of registered images ``[nframe, ny, nx]``; NaN pixels are left out."""
    stack = np.asarray(images, dtype=float)
    w = np.asarray(weights, dtype=float).reshape(-1, *([1] * (stack.ndim - 1)))
    if len(w) != len(stack):
        raise ValueError(f"{len(stack)} images but {len(w)} weights")
    valid = ~np.isnan(stack)
    wv = np.where(valid, w, 0.0)
    total = wv.sum(axis=0)
    summed = (np.where(valid, stack, 0.0) * wv).sum(axis=0)
    return np.divide(summed, total, out=np.full(total.shape, np.nan), where=total > 0)


def session_frames(frames: list[Frame], family: str) -> list[Frame]:
    """The frames a stacking session of ``family`` may use (never another family's)."""
    return [f for f in frames if f.family == family]


def stack_session(frames: list[Frame], family: str) -> tuple[np.ndarray, np.ndarray]:
    """Co-add the ``family`` frames of a session: (stacked image, weights of those frames)."""
    chosen = session_frames(frames, family)
    if not chosen:
        raise ValueError(f"no frames of family {family!r}")
    w = frame_weights(np.array([f.fwhm_arcsec for f in chosen]), np.array([f.snr for f in chosen]))
    return coadd([f.image for f in chosen], w), w


# ---------------------------------------------------------------- FITS (optional: astropy)
FITS_KEYS = ("TELESCOP", "FWHM", "SNR")


def read_fits_frame(path: str | Path, family: str) -> Frame:
    """A frame from a FITS file: primary image, header TELESCOP, FWHM (arcsec) and SNR."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        header, image = hdul[0].header, np.asarray(hdul[0].data, dtype=float)
    missing = [key for key in FITS_KEYS if key not in header]
    if missing:
        raise ModelError(
            f"FITS header lacks {', '.join(missing)}; expected TELESCOP, FWHM and SNR", file=path
        )
    return Frame(
        str(header["TELESCOP"]), family, float(header["FWHM"]), float(header["SNR"]), image
    )


def write_fits(path: str | Path, image: np.ndarray, header: dict | None = None) -> Path:
    """Write an image (e.g. a stack) as a FITS primary HDU, atomically."""
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.asarray(image, dtype=np.float32))
    for key, value in (header or {}).items():
        hdu.header[key] = value
    return atomic_write(path, lambda p: hdu.writeto(p, overwrite=True))
