"""Synthetic camera pictures: deterministic, alive when normal, and each fault looks like itself."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.frames import FRAME_FAULTS, FrameFault, SceneSpec, encode_jpeg, gaussian_blur, render

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def grey(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def detail(frame: np.ndarray) -> float:
    """Mean abs horizontal gradient of 2x2 block means (sensor noise mostly averaged out)."""
    g = grey(frame)
    h, w = g.shape[0] // 2 * 2, g.shape[1] // 2 * 2
    half = (g[0:h:2, 0:w:2] + g[1:h:2, 0:w:2] + g[0:h:2, 1:w:2] + g[1:h:2, 1:w:2]) / 4
    return float(np.abs(np.diff(half, axis=1)).mean())


@pytest.mark.parametrize("lighting", ["day", "night"])
def test_same_arguments_give_the_same_pixels(lighting: str) -> None:
    spec = SceneSpec(seed=5, lighting=lighting)
    faults = [FrameFault("defocus", T0)]
    assert np.array_equal(render(spec, at=T0, faults=faults), render(spec, at=T0, faults=faults))
    other = SceneSpec(seed=6, lighting=lighting)
    assert not np.array_equal(render(spec, at=T0), render(other, at=T0)), "two seeds gave one view"


@pytest.mark.parametrize("size", [(320, 240), (640, 480)])
def test_shape_and_type(size: tuple[int, int]) -> None:
    width, height = size
    frame = render(SceneSpec(seed=1, width=width, height=height), at=T0)
    assert frame.shape == (height, width, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("lighting", ["day", "night"])
def test_a_normal_picture_changes_between_snapshots(lighting: str) -> None:
    spec = SceneSpec(seed=2, lighting=lighting)
    a, b = render(spec, at=T0), render(spec, at=T0 + timedelta(seconds=2))
    assert encode_jpeg(a) != encode_jpeg(b)
    moved = np.abs(grey(a) - grey(b)) > 30  # the car; noise seldom moves a pixel 30 levels
    assert moved.sum() > 100, f"only {moved.sum()} pixels changed a lot: the car did not move"
    same_instant_noise = np.abs(grey(a) - grey(render(spec, at=T0 + timedelta(milliseconds=1))))
    assert same_instant_noise.mean() > 0.5, "no fresh sensor noise between frames"


def test_night_is_dark_but_has_lights_and_more_noise() -> None:
    day = grey(render(SceneSpec(seed=4), at=T0))
    night = grey(render(SceneSpec(seed=4, lighting="night"), at=T0))
    assert night.mean() < 30 < 90 < day.mean(), (night.mean(), day.mean())
    assert (night >= 150).mean() > 0.005, "no lit windows or lamps at night"
    # Noise: the difference of two frames a millisecond apart (nothing moves in 1 ms).
    def noise(lighting: str) -> float:
        spec = SceneSpec(seed=4, lighting=lighting)
        return float(np.std(grey(render(spec, at=T0)) - grey(render(spec, at=T0 + timedelta(milliseconds=1)))))

    assert noise("night") > 2 * noise("day")


def test_frozen_gives_byte_identical_snapshots_of_the_moment_it_froze() -> None:
    spec = SceneSpec(seed=3)
    fault = [FrameFault("frozen", T0)]
    snapshots = {encode_jpeg(render(spec, at=T0 + timedelta(seconds=s), faults=fault)) for s in (0, 5, 60, 3600)}
    assert len(snapshots) == 1, "a frozen camera's snapshots differ"
    assert snapshots == {encode_jpeg(render(spec, at=T0))}


def test_video_loss_is_near_black_with_noise() -> None:
    frame = grey(render(SceneSpec(seed=1, lighting="night"), at=T0, faults=[FrameFault("video_loss", T0)]))
    assert frame.mean() < 10 and frame.max() < 30 and frame.std() > 0.5, (frame.mean(), frame.max(), frame.std())


@pytest.mark.parametrize("seed", range(5))
def test_covered_is_one_colour_with_a_faint_gradient(seed: int) -> None:
    frame = render(SceneSpec(seed=seed), at=T0, faults=[FrameFault("covered", T0)])
    g = grey(frame)
    assert 30 < g.mean() < 220, "a cover must not read as black or blown out"
    assert g.std() < 6, f"covered picture std {g.std():.1f}"


def test_defocus_removes_fine_detail_but_keeps_the_light() -> None:
    spec = SceneSpec(seed=7)
    sharp = render(spec, at=T0)
    soft = render(spec, at=T0, faults=[FrameFault("defocus", T0)])
    assert detail(soft) < 0.3 * detail(sharp), (detail(soft), detail(sharp))
    assert abs(grey(soft).mean() - grey(sharp).mean()) < 3


def test_a_soft_lens_is_softer_than_a_sharp_one_but_not_defocused() -> None:
    sharp = detail(render(SceneSpec(seed=7), at=T0))
    soft_lens = detail(render(SceneSpec(seed=7, lens_blur_px=1.5), at=T0))
    defocused = detail(render(SceneSpec(seed=7), at=T0, faults=[FrameFault("defocus", T0)]))
    assert defocused < soft_lens < sharp


@pytest.mark.parametrize("lighting", ["day", "night"])
def test_overexposed_is_mostly_saturated(lighting: str) -> None:
    frame = grey(render(SceneSpec(seed=8, lighting=lighting), at=T0, faults=[FrameFault("overexposed", T0)]))
    assert (frame >= 250).mean() > 0.7


def test_faults_that_do_not_touch_the_picture_are_ignored() -> None:
    @dataclass(frozen=True)
    class SimulatorFault:  # the shape of the camera simulator's own ActiveFault
        name: str
        started_at: datetime

    spec = SceneSpec(seed=9)
    assert np.array_equal(render(spec, at=T0, faults=[SimulatorFault("offline", T0)]), render(spec, at=T0))


def test_bad_faults_and_times_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown picture fault 'smudge'"):
        FrameFault("smudge", T0)
    with pytest.raises(ValueError, match="naive"):
        FrameFault("frozen", datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="naive"):
        render(SceneSpec(), at=datetime(2026, 3, 1))
    assert set(FRAME_FAULTS) == {"video_loss", "covered", "defocus", "frozen", "overexposed"}


def test_encode_jpeg_round_trips() -> None:
    frame = render(SceneSpec(seed=1), at=T0)
    data = encode_jpeg(frame, quality=85)
    assert data[:2] == b"\xff\xd8", "not a JPEG start-of-image marker"
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)
    assert decoded.shape == frame.shape
    assert np.abs(decoded - frame).mean() < 6
    assert len(encode_jpeg(frame, quality=30)) < len(data)
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(frame, quality=0)


def test_gaussian_blur_keeps_the_mean_and_spreads_an_impulse_by_sigma() -> None:
    image = np.zeros((81, 81), dtype=np.float32)
    image[40, 40] = 1000.0
    blurred = gaussian_blur(image, sigma=4.0)
    assert blurred.sum() == pytest.approx(1000.0, rel=1e-4)
    profile = blurred[40] / blurred[40].sum()
    x = np.arange(81) - 40
    sigma = float(np.sqrt((profile * x * x).sum()))
    assert 3.5 < sigma < 4.8, f"blur of sigma 4 spread the impulse by {sigma:.2f}"
    flat = np.full((20, 30, 3), 77.0, dtype=np.float32)
    assert np.allclose(gaussian_blur(flat, sigma=3.0), 77.0)
