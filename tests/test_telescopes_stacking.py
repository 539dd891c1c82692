"""Families and frame weighting: stacking jobs never mix families, and bad frames never lower the
stacked SNR below that of the good frames alone (synthetic images with known noise)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rsmodel.model.loader import load_model
from rsmodel.model.telescope_network import resolve_network
from rsmodel.telescopes.api import plan_network
from rsmodel.telescopes.families import assign_families
from rsmodel.telescopes.stacking import Frame, coadd, frame_weights, stack_session

MODEL = Path(__file__).resolve().parents[1] / "models" / "telescopes.yaml"
SIZE = 256


# ---------------------------------------------------------------- families
@pytest.fixture(scope="module")
def shipped():
    return resolve_network(load_model(MODEL))


def test_families_are_deterministic_and_within_tolerance(shipped):
    tol = shipped.settings.family_tolerance
    fam = assign_families(shipped.telescopes, tol)
    by_name = dict(zip((t.name for t in shipped.telescopes), fam, strict=True))
    reordered = list(reversed(shipped.telescopes))
    assert (
        dict(zip((t.name for t in reordered), assign_families(reordered, tol), strict=True))
        == by_name
    )
    for f in set(fam):
        members = [t for t, g in zip(shipped.telescopes, fam, strict=True) if g == f]
        for a in members:
            for b in members:  # every pair within 2 x tol of each other (both near the founder)
                assert abs(a.pixel_scale_arcsec / b.pixel_scale_arcsec - 1) <= 2 * tol + 1e-9
                assert abs(a.fov_deg / b.fov_deg - 1) <= 2 * tol + 1e-9
    assert len(set(fam)) == 3  # the shipped model's wide / medium / narrow optics


def test_family_override_wins(shipped):
    tels = [replace(shipped.telescopes[0], family="mine"), *shipped.telescopes[1:]]
    assert assign_families(tels, 0.2)[0] == "mine"


@pytest.mark.parametrize("planner", ["dispatcher", "milp"])
def test_stacking_jobs_never_mix_families(shipped, planner, tmp_path):
    quick = replace(shipped, settings=shipped.settings.model_copy(update={"time_limit_s": 10}))
    planned = plan_network(quick, planner=planner, store_path=tmp_path / "s.json")
    family = {t["name"]: t["family"] for t in planned.plan["telescopes"]}
    deep = [t for t in planned.plan["tasks"] if t["class"] == "deep_sky"]
    assert deep
    for t in deep:
        used = {
            family[a["telescope"]] for a in planned.plan["assignments"] if a["task_id"] == t["id"]
        }
        assert len(used) <= 1, (t["id"], used)
        assert t["family"] in used | {None}
    # the instance really offers other families for some target (the constraint binds)
    inst = planned.instance
    offered = {
        (b.task, inst.family[b.telescope])
        for b in inst.blocks
        if inst.tasks[b.task].cls == "deep_sky"
    }
    assert any(sum(1 for k, _ in offered if k == task) > 1 for task, _ in offered)


def test_stack_session_only_takes_its_family():
    img = np.zeros((4, 4))
    frames = [
        Frame("a", "F1", 2.0, 50.0, img + 1),
        Frame("b", "F2", 2.0, 50.0, img + 100),
        Frame("c", "F1", 2.0, 50.0, img + 3),
    ]
    stacked, w = stack_session(frames, "F1")
    assert len(w) == 2 and np.allclose(stacked, 2.0)


# ---------------------------------------------------------------- frame weighting
def star(fwhm_px: float, flux: float = 4000.0) -> np.ndarray:
    """A Gaussian star of total ``flux`` at the image centre."""
    y, x = np.mgrid[:SIZE, :SIZE] - SIZE / 2
    sigma = fwhm_px / 2.3548
    return flux * np.exp(-(x**2 + y**2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)


def stacked_snr(models: list[np.ndarray], noises: list[np.ndarray], weights: np.ndarray) -> float:
    """Peak of the stacked noise-free star over the std of the stacked noise (both known)."""
    signal = coadd(models, weights)
    noise = coadd(noises, weights)
    return float(signal.max() / noise.std())


def frame_snr(fwhm_px: float, sigma: float) -> float:
    """The frame's true peak SNR (what a pipeline would measure on a reference star)."""
    return float(star(fwhm_px).max() / sigma)


@pytest.mark.parametrize(
    ("bad_fwhm", "bad_sigma", "rejected"),
    [
        (2.0, 8.0, True),
        (7.0, 1.0, True),
        (2.0, 1.6, False),
        (2.8, 1.0, False),
        (2.5, 1.2, False),
        (6.0, 5.0, True),
    ],
    ids=["noisy", "blurred", "noisier", "softer", "softer-noisier", "both-bad"],
)
def test_bad_frame_never_lowers_stacked_snr(bad_fwhm, bad_sigma, rejected):
    rng = np.random.default_rng(42)
    good = [(2.0, 1.0)] * 6
    frames = [*good, (bad_fwhm, bad_sigma)]
    models = [star(f) for f, _ in frames]
    noises = [rng.normal(0.0, s, (SIZE, SIZE)) for _, s in frames]
    fwhm = np.array([f for f, _ in frames])
    snr = np.array([frame_snr(f, s) for f, s in frames])
    w_all = frame_weights(fwhm, snr)
    assert (w_all[-1] == 0) == rejected and w_all[-1] < w_all[0]
    w_good = frame_weights(fwhm[:6], snr[:6])
    good_alone = stacked_snr(models[:6], noises[:6], w_good)
    assert stacked_snr(models, noises, w_all) >= good_alone
    if rejected:  # a plain mean would have let the really bad frame hurt the stack
        naive = stacked_snr(models, noises, np.full(len(frames), 1 / len(frames)))
        assert naive < good_alone


def test_weights_reject_poor_frames_whoever_took_them():
    w = frame_weights(np.array([2.0, 2.1, 1.9, 4.0, 2.0]), np.array([50.0, 55.0, 48.0, 60.0, 10.0]))
    assert w[3] == 0 and w[4] == 0 and w.sum() == pytest.approx(1.0)


def test_coadd_ignores_nan_pixels():
    a = np.array([[1.0, np.nan]])
    b = np.array([[3.0, 5.0]])
    assert np.allclose(coadd([a, b], np.array([0.5, 0.5])), [[2.0, 5.0]])


def test_fits_frames_round_trip_through_a_stacking_session(tmp_path):
    pytest.importorskip("astropy")
    from rsmodel.telescopes.stacking import read_fits_frame, write_fits

    rng = np.random.default_rng(3)
    paths = []
    for k, (fwhm, sigma) in enumerate([(2.0, 1.0), (2.0, 1.0), (2.1, 1.1), (7.0, 1.0)]):
        image = star(fwhm) + rng.normal(0, sigma, (SIZE, SIZE))
        header = {"TELESCOP": f"tel-{k}", "FWHM": fwhm, "SNR": frame_snr(fwhm, sigma)}
        paths.append(write_fits(tmp_path / f"f{k}.fits", image, header))
    frames = [read_fits_frame(p, "F1") for p in paths]
    stacked, w = stack_session(frames, "F1")
    assert w[3] == 0  # the blurred frame is rejected
    out = write_fits(tmp_path / "stack.fits", stacked, {"NCOMBINE": int((w > 0).sum())})
    from astropy.io import fits

    with fits.open(out) as hdul:
        assert hdul[0].header["NCOMBINE"] == 3
        assert np.allclose(hdul[0].data, stacked, atol=1e-3)


def test_fits_frame_without_quality_keys_is_a_clear_error(tmp_path):
    pytest.importorskip("astropy")
    from rsmodel.errors import ModelError
    from rsmodel.telescopes.stacking import read_fits_frame, write_fits

    path = write_fits(tmp_path / "bare.fits", np.zeros((4, 4)), {"TELESCOP": "x"})
    with pytest.raises(ModelError, match="FWHM, SNR"):
        read_fits_frame(path, "F1")
