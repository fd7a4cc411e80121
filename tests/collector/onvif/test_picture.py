"""The picture check: golden cases per fault, and the acceptance experiment over many cameras.

Every picture goes through a JPEG round trip (encode, decode), so compression artefacts are
part of what is judged, as they are with a real camera's snapshot.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.onvif.picture import (
    PictureChecker,
    PictureDecodeError,
    PictureMeasures,
    PictureVerdict,
    SharpnessBaseline,
    decode_jpeg,
    judge,
    measure,
    to_samples,
)
from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.frames import FrameFault, SceneSpec, encode_jpeg, render

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPECTED = {  # injected fault -> the verdict the check must give
    "video_loss": "black",
    "covered": "uniform",
    "defocus": "out_of_focus",
    "frozen": "frozen",
    "overexposed": "overexposed",
}
LABELS = ("ok", "black", "overexposed", "uniform", "frozen", "out_of_focus")


def snapshot(spec: SceneSpec, at: datetime, *faults: FrameFault, quality: int = 80) -> np.ndarray:
    return decode_jpeg(encode_jpeg(render(spec, at=at, faults=faults), quality=quality))


def label(verdict: PictureVerdict) -> str:
    flags = [name for name in LABELS[1:] if getattr(verdict, name)]
    assert len(flags) <= 1, f"more than one fault reported: {flags}"
    return flags[0] if flags else "ok"


def warmed_checker(spec: SceneSpec, *, frames: int = 5, quality: int = 80) -> PictureChecker:
    """A checker that has seen `frames` normal snapshots (10 s apart from T0)."""
    checker = PictureChecker(asset_id="cam-1")
    for k in range(frames):
        _, verdict = checker.check_frame(snapshot(spec, T0 + timedelta(seconds=10 * k), quality=quality))
        assert verdict.ok, f"normal warm-up snapshot {k} judged {verdict}"
    return checker


# --- decoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"<html><body>401 Unauthorized</body></html>", b"\xff\xd8\xff\xe0garbage"],
    ids=["empty", "html-error-page", "jpeg-header-then-garbage"],
)
def test_garbage_is_refused_with_a_clear_error(data: bytes) -> None:
    with pytest.raises(PictureDecodeError):
        decode_jpeg(data)


def test_a_truncated_jpeg_is_refused() -> None:
    data = encode_jpeg(render(SceneSpec(seed=1), at=T0))
    with pytest.raises(PictureDecodeError, match="not a readable JPEG"):
        decode_jpeg(data[: len(data) // 2])


@pytest.mark.parametrize(("image_format", "size"), [("PNG", (64, 48)), ("JPEG", (8, 8))], ids=["png", "tiny-jpeg"])
def test_other_images_are_refused(image_format: str, size: tuple[int, int]) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(buffer, format=image_format)
    with pytest.raises(PictureDecodeError):
        decode_jpeg(buffer.getvalue())


def test_the_checker_reports_unreadable_snapshots_as_the_cameras_decode_error() -> None:
    checker = PictureChecker(asset_id="cam-7")
    with pytest.raises(DecodeError) as caught:
        checker.check(b"not a picture", ts=T0)
    assert caught.value.device_id == "cam-7" and "snapshot" in str(caught.value)


def test_decode_gives_grey_pixels_close_to_the_original_luma() -> None:
    frame = render(SceneSpec(seed=2), at=T0)
    grey = decode_jpeg(encode_jpeg(frame, quality=90))
    assert grey.shape == frame.shape[:2] and grey.dtype == np.uint8
    luma = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey - luma).mean() < 3


# --- golden cases, one per fault --------------------------------------------------------


@pytest.mark.parametrize("lighting", ["day", "night"])
@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_fault_is_reported_as_itself(fault: str, lighting: str) -> None:
    spec = SceneSpec(seed=11, lighting=lighting)
    checker = warmed_checker(spec)
    at = T0 + timedelta(minutes=5)
    injected = FrameFault(fault, at)
    checker.check_frame(snapshot(spec, at, injected))  # a freeze shows from the second snapshot
    _, verdict = checker.check_frame(snapshot(spec, at + timedelta(seconds=10), injected))
    assert label(verdict) == EXPECTED[fault], f"{fault} by {lighting} judged {verdict}"


@pytest.mark.parametrize("lighting", ["day", "night"])
def test_normal_pictures_are_ok(lighting: str) -> None:
    checker = warmed_checker(SceneSpec(seed=12, lighting=lighting), frames=12)
    _, verdict = checker.check_frame(snapshot(SceneSpec(seed=12, lighting=lighting), T0 + timedelta(hours=1)))
    assert verdict.ok and verdict.frozen is False and verdict.out_of_focus is False, verdict


def test_a_very_dark_night_with_a_few_lights_is_not_black() -> None:
    night = render(SceneSpec(seed=13, lighting="night"), at=T0)
    darker = (night.astype(np.float32) * 0.4).astype(np.uint8)  # a darker street, dimmer lamps
    measures = measure(decode_jpeg(encode_jpeg(darker)))
    assert measures.mean_level < 12, "the case is meant to be darker than the black threshold of a mean"
    verdict = judge(measures, previous=None, baseline_sharpness=None)
    assert not verdict.black, f"dark night judged black: {measures}"


def test_a_black_frame_with_one_lamp_is_not_black_but_pure_noise_is() -> None:
    rng = np.random.default_rng(0)
    noise = np.clip(rng.normal(6, 3, (240, 320)), 0, 255).astype(np.uint8)
    assert judge(measure(noise), previous=None, baseline_sharpness=None).black
    lamp = noise.copy()
    lamp[100:110, 150:160] = 255  # one lamp: 0.13 % of the picture
    assert not judge(measure(lamp), previous=None, baseline_sharpness=None).black


def test_the_first_snapshot_judges_no_freeze_and_no_focus() -> None:
    checker = PictureChecker(asset_id="cam-1")
    measures, verdict = checker.check_frame(snapshot(SceneSpec(seed=1), T0))
    assert verdict.ok and verdict.frozen is None and verdict.out_of_focus is None
    channels = {s.channel for s in to_samples("cam-1", T0, verdict, measures)}
    assert "picture_frozen" not in channels and "picture_defocus" not in channels
    assert "picture_change" not in channels, "no previous snapshot, so no change to report"


def test_a_naturally_soft_camera_is_not_out_of_focus_but_its_defocus_is_caught() -> None:
    spec = SceneSpec(seed=14, lens_blur_px=1.5)
    checker = warmed_checker(spec, frames=30)  # asserts every one of them is ok
    at = T0 + timedelta(minutes=10)
    _, verdict = checker.check_frame(snapshot(spec, at, FrameFault("defocus", at)))
    assert verdict.out_of_focus, verdict
    # Judged against a fixed sharp-camera baseline instead, the soft lens would be flagged:
    # that is why the baseline is the camera's own.
    sharp_baseline = warmed_checker(SceneSpec(seed=14), frames=3).check_frame(snapshot(SceneSpec(seed=14), at))
    soft = measure(snapshot(spec, at))
    assert judge(soft, previous=None, baseline_sharpness=sharp_baseline[0].laplacian_var).out_of_focus


def test_dusk_does_not_look_like_defocus() -> None:
    """A camera seen by day, then at night: the night picture has its own baseline."""
    checker = warmed_checker(SceneSpec(seed=15), frames=10)
    night = SceneSpec(seed=15, lighting="night")
    for k in range(10):
        measures, verdict = checker.check_frame(snapshot(night, T0 + timedelta(hours=10, seconds=10 * k)))
        assert verdict.ok, f"night snapshot {k} after a day judged {verdict} ({measures})"
    at = T0 + timedelta(hours=11)
    _, verdict = checker.check_frame(snapshot(night, at, FrameFault("defocus", at)))
    assert verdict.out_of_focus, verdict


def test_defocused_pictures_do_not_teach_the_baseline() -> None:
    spec = SceneSpec(seed=16)
    checker = warmed_checker(spec)
    for k in range(40):  # long enough to replace the whole baseline if it learnt from them
        at = T0 + timedelta(minutes=5, seconds=10 * k)
        _, verdict = checker.check_frame(snapshot(spec, at, FrameFault("defocus", at)))
        assert verdict.out_of_focus, f"defocus snapshot {k} judged {verdict}"


def test_baseline_is_a_running_median_of_recent_values() -> None:
    baseline = SharpnessBaseline(size=3, min_count=2)
    assert baseline.with_value(10.0).sharpness is None
    assert baseline.with_value(10.0).with_value(30.0).sharpness == 20.0
    latest = baseline.with_value(1000.0).with_value(10.0).with_value(20.0).with_value(30.0)
    assert latest.values == (10.0, 20.0, 30.0) and latest.sharpness == 20.0


def test_samples_name_their_channels_and_units() -> None:
    spec = SceneSpec(seed=17)
    checker = warmed_checker(spec, frames=3)
    samples = checker.check(encode_jpeg(render(spec, at=T0 + timedelta(minutes=1))), ts=T0)
    by_channel = {s.channel: s for s in samples}
    states = ["picture_black", "picture_overexposed", "picture_uniform", "picture_frozen", "picture_defocus"]
    assert {c: by_channel[c].value for c in states} == dict.fromkeys(states, 0.0)
    assert by_channel["picture_ok"].value == 1.0
    assert all(by_channel[c].unit == "state" for c in [*states, "picture_ok"])
    assert by_channel["picture_mean_level"].unit == "level" and 0 < by_channel["picture_mean_level"].value < 255
    assert by_channel["picture_laplacian_var"].unit == "score" and by_channel["picture_laplacian_var"].value > 0
    assert by_channel["picture_change"].unit == "level" and by_channel["picture_change"].value > 0
    assert all(s.asset_id == "cam-1" and s.ts == T0 and s.is_good for s in samples)


def test_a_fault_gives_its_state_and_leaves_out_what_was_not_judged() -> None:
    spec = SceneSpec(seed=18)
    checker = warmed_checker(spec, frames=3)
    data = encode_jpeg(render(spec, at=T0, faults=[FrameFault("video_loss", T0)]))
    states = {s.channel: s.value for s in checker.check(data, ts=T0) if s.unit == "state"}
    assert states == {"picture_black": 1.0, "picture_overexposed": 0.0, "picture_uniform": 0.0, "picture_ok": 0.0}


def test_measures_are_plain_values() -> None:
    measures = measure(np.full((48, 64), 100, dtype=np.uint8))
    assert isinstance(measures, PictureMeasures)
    assert measures.mean_level == 100.0 and measures.std_level == 0.0 and measures.laplacian_var == 0.0
    assert measures.dark_fraction == 0.0 and measures.bright_fraction == 1.0 and measures.saturated_fraction == 0.0
    with pytest.raises(ValueError, match="uint8"):
        measure(np.zeros((48, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="too small"):
        measure(np.zeros((8, 8), dtype=np.uint8))


# --- acceptance -------------------------------------------------------------------------


def test_acceptance_every_fault_caught_and_false_alarms_below_one_percent() -> None:
    """40 cameras by day and 40 by night (every fourth with a soft lens, JPEG quality 60-90),
    each: 6 normal snapshots, then every fault in turn with 2 normal snapshots after each.

    Snapshots are 10 s apart. A freeze can only show from its second snapshot (the first is a
    normal picture), so frozen gets three snapshots of which the first is not counted.
    """
    confusion: Counter[tuple[str, str]] = Counter()
    for seed in range(40):
        for lighting in ("day", "night"):
            spec = SceneSpec(seed=seed, lighting=lighting, lens_blur_px=1.5 if seed % 4 == 3 else 0.0)
            quality = 60 + (seed * 7) % 31
            checker = PictureChecker(asset_id=f"cam-{seed}-{lighting}")
            at = T0 + timedelta(seconds=seed)

            def judge_next(*faults: FrameFault) -> str:
                nonlocal at
                at += timedelta(seconds=10)
                return label(checker.check_frame(snapshot(spec, at, *faults, quality=quality))[1])

            confusion.update(("normal", judge_next()) for _ in range(6))
            for fault in EXPECTED:
                injected = FrameFault(fault, at + timedelta(seconds=10))
                if fault == "frozen":
                    judge_next(injected)
                confusion.update((fault, judge_next(injected)) for _ in range(2))
                confusion.update(("normal", judge_next()) for _ in range(2))

    normal = sum(n for (injected, _), n in confusion.items() if injected == "normal")
    false_alarms = sum(n for (injected, got), n in confusion.items() if injected == "normal" and got != "ok")
    faulty = sum(n for (injected, _), n in confusion.items() if injected != "normal")
    caught = sum(n for (injected, got), n in confusion.items() if injected != "normal" and got == EXPECTED[injected])
    table = _confusion_table(confusion)
    print(f"\npicture check: {caught}/{faulty} faults caught as themselves, "
          f"{false_alarms}/{normal} false alarms ({100 * false_alarms / normal:.2f} %)\n{table}")
    assert normal + faulty >= 200
    assert caught == faulty, f"missed or misnamed faults:\n{table}"
    assert false_alarms / normal < 0.01, f"false-alarm rate {false_alarms}/{normal}:\n{table}"


def _confusion_table(confusion: Counter[tuple[str, str]]) -> str:
    rows = ("normal", *EXPECTED)
    lines = [f"{'injected / judged':<18}" + "".join(f"{c:>13}" for c in LABELS)]
    lines += [f"{r:<18}" + "".join(f"{confusion[(r, c)]:>13}" for c in LABELS) for r in rows]
    return "\n".join(lines)
