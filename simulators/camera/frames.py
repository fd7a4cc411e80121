"""Deterministic synthetic camera pictures: a street scene by day or night, and picture faults.

``render(spec, at=..., faults=...)`` gives an RGB ``uint8`` frame that depends only on the
spec, the time and the faults: the same arguments give the same pixels, so the snapshot
service can be tested byte for byte. ``encode_jpeg`` turns a frame into snapshot bytes.

A normal picture changes from frame to frame, as a real camera's does: a car drives along
the road, the sensor adds fresh noise every frame and the auto-exposure breathes a little.
Night pictures are dark but not black: lit windows, street lamps, headlights, and the
higher noise of a sensor running at high gain.

Faults (``FRAME_FAULTS``), as the picture check must see them:
  video_loss   no signal: near-black with a little noise (a cut cable, a dead sensor)
  covered      lens covered or a blank screen: one colour, a faint light gradient, tiny noise
  defocus      the scene strongly blurred (lens knocked out of focus, dew, dirt)
  frozen       the picture stops at the fault's start: byte-identical frames from then on
  overexposed  blown out: most of the picture saturated (iris stuck open, light into the lens)
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from sitewatch.domain.time import require_utc

FRAME_FAULTS = ("video_loss", "covered", "defocus", "frozen", "overexposed")

# Sensor noise (standard deviation in levels): a day sensor runs at base gain, a night
# sensor at high gain, which is what makes dark pictures grainy.
_NOISE_DAY = 2.0
_NOISE_NIGHT = 6.0
_EXPOSURE_WOBBLE = 0.04  # auto-exposure breathing, +-4 % of the gain
_CAR_SPEED_PX_S = 23.0  # per 320 px of width: crosses the picture in about 15 s


class SceneSpec(BaseModel):
    """One camera's view. Hashable (frozen), so its static layers can be cached."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(default=0, ge=0)
    lighting: Literal["day", "night"] = "day"
    width: int = Field(default=320, ge=64, le=3840)
    height: int = Field(default=240, ge=48, le=2160)
    # A naturally soft lens (cheap optics, a dome bubble): Gaussian sigma in pixels applied
    # to every picture, so the picture check must judge focus against the camera's own past.
    lens_blur_px: float = Field(default=0.0, ge=0.0, le=20.0)
    defocus_blur_px: float | None = Field(
        default=None, gt=0.0, le=50.0, description="blur of the defocus fault; None = width / 80"
    )


class ActiveFaultLike(Protocol):
    """What render needs of a fault: the simulator's own ActiveFault records fit."""

    @property
    def name(self) -> str: ...

    @property
    def started_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class FrameFault:
    """A picture fault in force since ``started_at`` (only ``frozen`` uses the time)."""

    name: str
    started_at: datetime

    def __post_init__(self) -> None:
        if self.name not in FRAME_FAULTS:
            raise ValueError(f"unknown picture fault {self.name!r}; known: {', '.join(FRAME_FAULTS)}")
        require_utc(self.started_at)


def render(spec: SceneSpec, *, at: datetime, faults: Iterable[ActiveFaultLike] = ()) -> np.ndarray:
    """The camera's picture at ``at``: an (height, width, 3) ``uint8`` RGB array.

    Faults not in ``FRAME_FAULTS`` (a camera that is offline, a drifting clock) leave the
    picture alone, so a simulator can pass every fault in force.
    """
    active = {f.name: f for f in faults if f.name in FRAME_FAULTS}
    # A frozen camera keeps sending the picture of the moment it froze.
    shown_at = active["frozen"].started_at if "frozen" in active else require_utc(at)
    millis = round(shown_at.timestamp() * 1000)
    if millis < 0:
        raise ValueError(f"time before 1970 is not supported: {shown_at.isoformat()}")
    rng = np.random.default_rng((spec.seed, millis))
    if "video_loss" in active:
        return _video_loss(spec, rng)
    if "covered" in active:
        return _covered(spec, rng)
    scene = _scene(spec)
    seconds = millis / 1000.0
    # Blinded (floodlight, IR bounced off a cobweb, iris stuck open): as bright by night.
    lighting = "day" if "overexposed" in active else spec.lighting
    picture = (scene.day if lighting == "day" else scene.night).copy()
    _draw_car(picture, spec=spec, seconds=seconds, night=lighting == "night")
    gain = 1.0 + _EXPOSURE_WOBBLE * math.sin(2 * math.pi * seconds / 97.0 + spec.seed)
    if "overexposed" in active:
        gain *= 3.5 + 2.5 * _unit(spec.seed, 1)  # 3.5-6x: the bright half of the scene clips
    picture *= gain
    blur = spec.lens_blur_px
    if "defocus" in active:
        strong = spec.defocus_blur_px if spec.defocus_blur_px is not None else spec.width / 80.0
        blur = math.hypot(blur, strong)
    if blur > 0:
        picture = gaussian_blur(picture, sigma=blur)
    noise = _NOISE_NIGHT if lighting == "night" else _NOISE_DAY
    picture += _sensor_noise(rng, picture.shape) * noise
    return _to_uint8(picture)


def encode_jpeg(frame: np.ndarray, *, quality: int = 80) -> bytes:
    """Snapshot bytes as a camera's JPEG encoder gives them; deterministic for equal frames."""
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be 1-95, got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def gaussian_blur(image: np.ndarray, *, sigma: float) -> np.ndarray:
    """Gaussian blur of a float (H, W[, C]) image, as two matrix products (one per axis).

    A dense (n, n) kernel matrix costs more arithmetic than a sliding window but runs as
    one BLAS call, which is faster at camera sizes. Each row of the matrix is normalised,
    so the picture's edges keep their level instead of fading towards black.
    """
    rows = _gaussian_matrix(image.shape[0], sigma)
    columns = _gaussian_matrix(image.shape[1], sigma)
    out = np.tensordot(rows, image.astype(np.float32, copy=False), axes=(1, 0))  # (H, W[, C])
    out = np.tensordot(out, columns, axes=(1, 1))  # (H[, C], W)
    return np.ascontiguousarray(np.moveaxis(out, -1, 1)) if image.ndim == 3 else out


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    offsets = np.arange(n, dtype=np.float32)
    weights = np.exp(-((offsets[:, None] - offsets[None, :]) ** 2) / np.float32(2 * sigma * sigma))
    weights[weights < 1e-6] = 0.0  # the far tail is invisible, and subnormal floats are slow
    return weights / weights.sum(axis=1, keepdims=True)


def _unit(seed: int, salt: int) -> float:
    """A number in [0, 1) fixed by the camera's seed (a property of the camera, not the frame)."""
    return float(np.random.default_rng((seed, 7919, salt)).random())


def _sensor_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal noise for one frame: a window of `_noise_bank` at an offset drawn from `rng`.

    Drawing fresh Gaussian noise took 7.6 of the 10.7 ms a 640x360 picture took to render.
    A window is as random to look at (independent pixels within a frame, different from one
    frame to the next) and, like the draw, fixed by the frame's seed and time.
    """
    size = math.prod(shape)
    offset = int(rng.integers(0, size + 1))
    return _noise_bank(size)[offset : offset + size].reshape(shape)


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    """Twice a frame's worth of standard normal noise, drawn once per frame size."""
    bank = np.random.default_rng(104723).standard_normal(2 * size, dtype=np.float32)
    bank.setflags(write=False)
    return bank


def _to_uint8(picture: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)


def _video_loss(spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    level = 2.0 + 6.0 * _unit(spec.seed, 2)  # the black level of the encoder's input
    noise = 1.0 + 2.0 * _unit(spec.seed, 3)
    gray = level + _sensor_noise(rng, (spec.height, spec.width)) * noise
    return np.repeat(_to_uint8(gray)[:, :, None], 3, axis=2)


# What covers a lens: a grey cap or bag, a hand, a blue "no video" screen, paint, foliage.
_COVER_COLOURS = ((128, 128, 128), (176, 138, 120), (24, 40, 176), (200, 200, 190), (70, 110, 60))


def _covered(spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    colour = np.array(_COVER_COLOURS[spec.seed % len(_COVER_COLOURS)], dtype=np.float32)
    # Light leaking round the cover: a faint diagonal gradient, +-6 levels.
    y, x = np.ogrid[0 : spec.height, 0 : spec.width]
    leak = 6.0 * ((x / spec.width + y / spec.height) - 1.0)
    picture = colour + leak[:, :, None].astype(np.float32)
    picture += _sensor_noise(rng, picture.shape)
    return _to_uint8(picture)


@dataclass(frozen=True, slots=True)
class _Scene:
    day: np.ndarray  # (H, W, 3) float32 radiance at normal exposure, without the car
    night: np.ndarray


@lru_cache(maxsize=64)
def _scene(spec: SceneSpec) -> _Scene:
    """The static part of the view, built once per camera: sky, buildings, road, a lamp post."""
    h, w = spec.height, spec.width
    rng = np.random.default_rng((spec.seed, 104729))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = int(h * (0.40 + 0.1 * rng.random()))

    day = np.empty((h, w, 3), dtype=np.float32)
    sky_top, sky_low = np.array([120, 160, 205]), np.array([190, 200, 215])
    mix = (y[:horizon, :, None] / max(horizon, 1)).astype(np.float32)
    day[:horizon] = sky_top * (1 - mix) + sky_low * mix
    # Asphalt with a fixed grain (texture the focus measure can see), darker towards the camera.
    grain = gaussian_blur(rng.normal(0.0, 9.0, (h - horizon, w)).astype(np.float32), sigma=0.7)
    shade = (1.0 - 0.25 * (y[horizon:] - horizon) / max(h - horizon, 1))[:, :, None]
    day[horizon:] = (np.array([104, 102, 98]) + grain[:, :, None]) * shade
    night = day * np.float32(0.08)
    night[:horizon] = np.array([6, 8, 18])  # night sky

    # Buildings along the horizon, with a grid of windows; some lit at night.
    lights = np.zeros((h, w), dtype=np.float32)
    left = 0
    while left < w:
        bw = int(w * (0.10 + 0.15 * rng.random()))
        top = int(horizon * (0.15 + 0.6 * rng.random()))
        colour = np.array([90, 85, 80]) + rng.integers(0, 70, 3)
        day[top:horizon, left : left + bw] = colour
        night[top:horizon, left : left + bw] = colour * 0.06
        step_x, step_y = max(6, w // 40), max(6, h // 24)
        for wy in range(top + step_y // 2, horizon - step_y, step_y):
            for wx in range(left + step_x // 2, left + bw - step_x, step_x):
                ww, wh = step_x // 2, step_y // 2
                day[wy : wy + wh, wx : wx + ww] = (45, 50, 60)
                if rng.random() < 0.45:
                    lights[wy : wy + wh, wx : wx + ww] = 150 + 90 * rng.random()
        left += bw + int(w * 0.02 * rng.random())

    # Lane markings converging on a vanishing point, and a lamp post with its lamp.
    vanish = w * (0.3 + 0.4 * rng.random())
    depth = np.clip((y - horizon) / max(h - horizon, 1), 0, None)
    for offset in (-0.9, 0.0, 0.9):
        centre = vanish + offset * w * depth
        dashes = np.sin(40.0 * np.sqrt(depth + 1e-6)) > -0.2 if offset == 0.0 else True
        mark = (np.abs(x - centre) < 0.5 + 3.0 * depth) & (y > horizon + 2) & dashes
        day[mark] = (225, 225, 215)
        night[mark] = (22, 22, 21)
    post_x = int(w * (0.1 + 0.8 * rng.random()))
    post_top = int(h * 0.12)
    post_w = max(2, w // 160)
    day[post_top : int(h * 0.9), post_x : post_x + post_w] = (50, 50, 55)
    night[post_top : int(h * 0.9), post_x : post_x + post_w] = (4, 4, 5)
    glow = np.exp(-((x - post_x) ** 2 + (y - post_top) ** 2) / (2 * (w / 40.0) ** 2))
    lights += 255.0 * glow + 40.0 * np.exp(-((x - post_x) ** 2 + (y - post_top) ** 2) / (2 * (w / 8.0) ** 2))
    night += lights[:, :, None] * np.array([1.0, 0.9, 0.7], dtype=np.float32)

    day.setflags(write=False)
    night.setflags(write=False)
    return _Scene(day=day, night=night)


def _draw_car(picture: np.ndarray, *, spec: SceneSpec, seconds: float, night: bool) -> None:
    """A car crossing the road and coming round again; drawn in place."""
    h, w = spec.height, spec.width
    car_w, car_h = w // 6, h // 12
    lap = w + car_w
    left = int((seconds * _CAR_SPEED_PX_S * w / 320.0 + _unit(spec.seed, 4) * lap) % lap) - car_w
    top = int(h * 0.72)
    colour = np.array([150, 30, 35]) if spec.seed % 2 else np.array([40, 60, 150])
    dim = 0.08 if night else 1.0
    x0, x1 = max(left, 0), min(left + car_w, w)
    if x0 >= x1:
        return
    picture[top : top + car_h, x0:x1] = colour * dim
    roof = slice(top - car_h // 2, top)
    rx0, rx1 = max(left + car_w // 4, 0), min(left + 3 * car_w // 4, w)
    if rx0 < rx1:
        picture[roof, rx0:rx1] = np.array([30, 35, 45]) * dim
    if night:  # headlights and tail lights
        lamp = max(2, car_h // 3)
        for lx, rgb in ((left + car_w - lamp, (255, 250, 230)), (left, (230, 20, 20))):
            a, b = max(lx, 0), min(lx + lamp, w)
            if a < b:
                picture[top + 2 : top + 2 + lamp, a:b] = rgb
