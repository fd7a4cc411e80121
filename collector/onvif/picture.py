"""Is the camera's picture usable? Judged from one snapshot and what the camera showed before.

Pure functions do the work: ``decode_jpeg`` (bytes -> grey pixels), ``measure`` (pixels ->
``PictureMeasures``), ``judge`` (measures -> ``PictureVerdict``), ``to_samples``.
``PictureChecker`` holds the little state one camera needs between snapshots: the previous
snapshot's measures and the camera's own sharpness baselines.

Faults, in the order they are decided (the first that holds is the one reported; the
ones after it are not judged, e.g. a black picture is neither frozen nor out of focus):
  black        nearly every pixel dark and no light anywhere: video loss, a dead sensor
  overexposed  most pixels saturated: blinded, iris stuck open
  uniform      no structure at all: lens covered, a blank or "no video" screen
  frozen       the same picture as the previous snapshot: a real sensor's noise never
               repeats, so equal pixels mean a stuck encoder or a frame buffer replayed
  out_of_focus far less fine detail than this camera usually shows in the same light

Sensor noise is the enemy of the structure and sharpness measures (a grainy night picture
has as much pixel-scale "detail" as a sharp day one), so both are taken on averaged
blocks: sharpness on 2x2 block means (noise variance / 4, a sharp edge stays sharp),
structure and change on 4x4 block means (noise / 16).
"""

from __future__ import annotations

import hashlib
import io
import statistics
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from sitewatch.collector.errors import DecodeError
from sitewatch.domain.samples import Sample

# Pixel levels (0-255 grey).
DARK_LEVEL = 24  # at or below: dark (a black frame's noise stays well below this)
BRIGHT_LEVEL = 64  # at or above: a light source or a lit surface, which a dead feed never has
SATURATED_LEVEL = 250

# Thresholds; the acceptance test in tests/collector/onvif/test_picture.py measures them.
BLACK_MIN_DARK_FRACTION = 0.98
BLACK_MAX_BRIGHT_FRACTION = 0.001  # a night scene with even one lit window or lamp has more
OVEREXPOSED_MIN_SATURATED_FRACTION = 0.5
UNIFORM_MAX_STD = 6.0  # std of 4x4 block means, levels; a cover's light leak gives 2-4
DEFOCUS_MAX_RATIO = 0.4  # Laplacian variance below this share of the camera's own baseline
NIGHT_MAX_MEAN = 60.0  # day and night pictures of one camera differ in sharpness: two baselines

# Width x height, read from the JPEG header before anything is decoded: over it, refused. An
# 8192x8192 JPEG of 786 KB took 1.4 s and 403 MB to decode. The endpoint's max_snapshot_pixels
# chooses, up to 8192x8192.
MAX_PIXELS = 4096 * 4096
MIN_SIDE = 16  # pixels: smaller is an icon or a placeholder, not a camera picture
# A JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the work (libjpeg's DCT scaling,
# PIL's draft()). A picture is decoded at the smallest such scale that still has this many
# pixels: 720p and 1080p whole, a 4K picture at 1/2, 4096x4096 at 1/4. The measures are block
# means compared with the same camera's own earlier pictures, at the same scale.
DECODE_MIN_PIXELS = 1280 * 720

Regime = Literal["day", "night"]


class PictureDecodeError(ValueError):
    """The snapshot bytes are not a readable JPEG (empty, truncated, HTML error page...)."""


class PictureTooLarge(PictureDecodeError):
    """The JPEG header announces more pixels than the cap: refused undecoded."""


@dataclass(frozen=True, slots=True)
class PictureMeasures:
    mean_level: float  # 0-255
    std_level: float  # std of 4x4 block means: the picture's structure, not its noise
    dark_fraction: float  # share of pixels <= DARK_LEVEL
    bright_fraction: float  # share of pixels >= BRIGHT_LEVEL
    saturated_fraction: float  # share of pixels >= SATURATED_LEVEL
    laplacian_var: float  # variance of the 4-neighbour Laplacian of 2x2 block means
    change: float | None  # mean abs difference of 4x4 block means to the previous snapshot
    digest: str  # of the decoded pixels: equal digests, equal pictures
    # 4x4 block means, kept to compare the next snapshot with: a sixteenth of the frame
    # (77 KB at 640x480) is what each camera's checker holds between snapshots.
    thumbnail: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PictureVerdict:
    """At most one fault is True; None means "not judged" (see the module docstring)."""

    black: bool
    overexposed: bool
    uniform: bool
    frozen: bool | None  # None: no previous snapshot, or the picture shows nothing to compare
    out_of_focus: bool | None  # None: no baseline yet, or frozen, or nothing to focus on
    baseline_sharpness: float | None  # what laplacian_var was compared with

    @property
    def ok(self) -> bool:
        return not (self.black or self.overexposed or self.uniform or self.frozen or self.out_of_focus)


def decode_jpeg(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Snapshot bytes -> (height, width) ``uint8`` grey (ITU-R 601 luma), scaled down when large
    (DECODE_MIN_PIXELS). Raises PictureDecodeError, PictureTooLarge over ``max_pixels``."""
    if not data:
        raise PictureDecodeError("empty snapshot")
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own pixel limit; max_pixels decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["JPEG"])  # reads the header only
        width, height = image.size
        if width * height > max_pixels:
            raise PictureTooLarge(
                f"a snapshot of {width}x{height} pixels ({width * height / 1e6:.1f} Mpx) is over the "
                f"{max_pixels / 1e6:.1f} Mpx limit: refused undecoded"
            )
        if min(width, height) < MIN_SIDE:
            raise PictureDecodeError(f"a snapshot of {width}x{height} pixels is no camera picture")
        scale = 1
        while scale < 8 and (width // (2 * scale)) * (height // (2 * scale)) >= DECODE_MIN_PIXELS:
            scale *= 2
        # A JPEG stores luma as its own channel: decoding only that skips the colour work.
        image.draft("L", (width // scale, height // scale))
        grey = np.asarray(image.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        head = data[:16]
        raise PictureDecodeError(f"not a readable JPEG ({len(data)} bytes, starting {head!r}): {exc}") from exc
    return grey


def measure(frame: np.ndarray, *, previous: PictureMeasures | None = None) -> PictureMeasures:
    """Measures of a (H, W) grey or (H, W, 3) RGB ``uint8`` frame; ``change`` against ``previous``."""
    grey = _grey(frame)
    half = _block_mean(grey.astype(np.float32))
    thumbnail = _block_mean(half)
    centre = half[1:-1, 1:-1]
    laplacian = half[:-2, 1:-1] + half[2:, 1:-1] + half[1:-1, :-2] + half[1:-1, 2:] - 4.0 * centre
    change = None
    if previous is not None and previous.thumbnail.shape == thumbnail.shape:
        change = float(np.mean(np.abs(thumbnail - previous.thumbnail)))
    digest = hashlib.blake2b(grey.tobytes(), digest_size=16)
    digest.update(repr(grey.shape).encode())
    pixels = grey.size
    thumbnail.setflags(write=False)
    return PictureMeasures(
        mean_level=float(grey.mean(dtype=np.float64)),
        std_level=float(thumbnail.std(dtype=np.float64)),
        dark_fraction=np.count_nonzero(grey <= DARK_LEVEL) / pixels,
        bright_fraction=np.count_nonzero(grey >= BRIGHT_LEVEL) / pixels,
        saturated_fraction=np.count_nonzero(grey >= SATURATED_LEVEL) / pixels,
        laplacian_var=float(laplacian.var(dtype=np.float64)),
        change=change,
        digest=digest.hexdigest(),
        thumbnail=thumbnail,
    )


def judge(
    measures: PictureMeasures,
    *,
    previous: PictureMeasures | None,
    baseline_sharpness: float | None,
) -> PictureVerdict:
    """The verdict on one snapshot, given the previous one and this camera's usual sharpness."""
    black = (
        measures.dark_fraction >= BLACK_MIN_DARK_FRACTION
        and measures.bright_fraction < BLACK_MAX_BRIGHT_FRACTION
    )
    overexposed = not black and measures.saturated_fraction >= OVEREXPOSED_MIN_SATURATED_FRACTION
    uniform = not (black or overexposed) and measures.std_level < UNIFORM_MAX_STD
    if black or overexposed or uniform:
        return PictureVerdict(black, overexposed, uniform, None, None, baseline_sharpness)
    # Equal pixels only. A stale picture re-encoded at another quality changes by ~0.1
    # (block means), while the floor of a clean, static real camera is not known yet: a
    # threshold on ``change`` could alarm on a quiet scene, so none is used.
    frozen = None if previous is None else measures.digest == previous.digest
    out_of_focus = None
    if not frozen and baseline_sharpness is not None:
        out_of_focus = measures.laplacian_var < DEFOCUS_MAX_RATIO * baseline_sharpness
    return PictureVerdict(False, False, False, frozen, out_of_focus, baseline_sharpness)


def regime(measures: PictureMeasures) -> Regime:
    """Which of the camera's two sharpness baselines a picture is compared with."""
    return "night" if measures.mean_level < NIGHT_MAX_MEAN else "day"


# Every channel to_samples can give, with its unit (the rules need them before the first snapshot).
PICTURE_CHANNELS: dict[str, str] = {
    "picture_black": "state", "picture_overexposed": "state", "picture_uniform": "state",
    "picture_frozen": "state", "picture_defocus": "state", "picture_ok": "state",
    "picture_mean_level": "level", "picture_laplacian_var": "score", "picture_change": "level",
}


def to_samples(asset_id: str, ts: datetime, verdict: PictureVerdict, measures: PictureMeasures) -> list[Sample]:
    """State channels (1 = fault) and the measures; a flag that was not judged gives no sample."""
    states = {
        "picture_black": verdict.black,
        "picture_overexposed": verdict.overexposed,
        "picture_uniform": verdict.uniform,
        "picture_frozen": verdict.frozen,
        "picture_defocus": verdict.out_of_focus,
        "picture_ok": verdict.ok,
    }
    samples = [Sample(asset_id, name, ts, float(v), "state") for name, v in states.items() if v is not None]
    samples.append(Sample(asset_id, "picture_mean_level", ts, measures.mean_level, "level"))
    samples.append(Sample(asset_id, "picture_laplacian_var", ts, measures.laplacian_var, "score"))
    if measures.change is not None:
        samples.append(Sample(asset_id, "picture_change", ts, measures.change, "level"))
    return samples


@dataclass(frozen=True, slots=True)
class SharpnessBaseline:
    """Running median of the Laplacian variance of a camera's recent good pictures.

    Judging against the camera's own past, not a fixed number, keeps a naturally soft lens
    from being flagged forever. Only pictures judged good are added, so a defocused lens
    does not teach the baseline; the price is that a camera first seen out of focus, or one
    drifting slowly (less than DEFOCUS_MAX_RATIO within ``size`` snapshots), is learnt as normal.
    """

    values: tuple[float, ...] = ()
    size: int = 15
    min_count: int = 3  # fewer good pictures than this: focus is not judged yet

    @property
    def sharpness(self) -> float | None:
        return statistics.median(self.values) if len(self.values) >= self.min_count else None

    def with_value(self, laplacian_var: float) -> SharpnessBaseline:
        values = (*self.values, laplacian_var)[-self.size :]
        return SharpnessBaseline(values, self.size, self.min_count)


class PictureChecker:
    """One camera's picture check: the previous snapshot and a day and a night baseline."""

    def __init__(self, *, asset_id: str, baseline_size: int = 15, max_pixels: int = MAX_PIXELS) -> None:
        self.asset_id = asset_id
        self._max_pixels = max_pixels
        self._previous: PictureMeasures | None = None
        self._baselines: dict[Regime, SharpnessBaseline] = {
            "day": SharpnessBaseline(size=baseline_size),
            "night": SharpnessBaseline(size=baseline_size),
        }

    def check(self, jpeg: bytes, *, ts: datetime) -> list[Sample]:
        """Judge one snapshot; raises DecodeError (with this camera's id) on unreadable bytes.

        CPU-bound (12 ms for a 1080p picture, README: Bounds): the poller runs it in a thread.
        """
        try:
            frame = decode_jpeg(jpeg, max_pixels=self._max_pixels)
        except PictureDecodeError as exc:
            raise DecodeError(device_id=self.asset_id, message=f"snapshot: {exc}") from exc
        measures, verdict = self.check_frame(frame)
        return to_samples(self.asset_id, ts, verdict, measures)

    def check_frame(self, frame: np.ndarray) -> tuple[PictureMeasures, PictureVerdict]:
        measures = measure(frame, previous=self._previous)
        which = regime(measures)
        verdict = judge(measures, previous=self._previous, baseline_sharpness=self._baselines[which].sharpness)
        self._previous = measures
        if verdict.ok:
            self._baselines[which] = self._baselines[which].with_value(measures.laplacian_var)
        return measures, verdict


def _grey(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        grey = frame
    elif frame.ndim == 3 and frame.shape[2] == 3:
        luma = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        grey = np.rint(luma).astype(np.uint8)
    else:
        raise ValueError(f"frame must be (H, W) grey or (H, W, 3) RGB, got shape {frame.shape}")
    if min(grey.shape) < MIN_SIDE:
        raise ValueError(f"frame of {grey.shape[1]}x{grey.shape[0]} pixels is too small to judge")
    return np.ascontiguousarray(grey)


def _block_mean(image: np.ndarray) -> np.ndarray:
    """2x2 block means (an odd last row or column is dropped)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    return (image[0:h:2, 0:w:2] + image[1:h:2, 0:w:2] + image[0:h:2, 1:w:2] + image[1:h:2, 1:w:2]) * 0.25
