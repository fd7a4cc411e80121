"""The log as CSV (exact numbers), HTML (Jinja2, self-contained) and PDF (fpdf2, core font
or one embedded TTF: nothing fetched). Times are shown in the site's local time."""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.time import to_local
from review.models import ChannelSummary, SiteReview, Verdict

TEMPLATES = Path(__file__).parent / "templates"
# Digits worth showing per unit (as the dashboard: a manager reads 2.487 kPa). CSV keeps all.
DECIMALS = {"MPa": 4, "kPa": 3, "Nm3/h": 1, "degC": 1, "%LEL": 2, "V": 2, "s": 0, "state": 0}

CSV_COLUMNS = (
    "site_id", "day", "station_id", "station_name", "verdict", "channel", "unit",
    "min (in unit)", "max (in unit)", "mean (in unit)", "last (in unit)", "last_at (site time, ISO 8601)",
    "limit_low (in unit)", "limit_high (in unit)", "samples_good (count)", "samples_expected (count)",
    "completeness (ratio 0-1)", "flags",
)


@dataclass(frozen=True, slots=True)
class Signature:
    """What is known about the stored log beyond its content."""

    content_sha256: str
    generated_at: datetime
    signed_by: str | None = None
    signed_at: datetime | None = None
    field_check_tickets: dict[str, int] | None = None


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "state":
        return str(int(value)) if value == int(value) else f"{value:.3f}"
    return f"{value:.{DECIMALS.get(unit, 3)}f}"


def local(ts: datetime | None, review: SiteReview, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "-" if ts is None else to_local(ts, review.time_zone).strftime(fmt)


def window_text(review: SiteReview) -> str:
    hours = (review.window_end - review.window_start).total_seconds() / 3600
    return (f"{local(review.window_start, review, '%Y-%m-%d %H:%M')} to "
            f"{local(review.window_end, review, '%Y-%m-%d %H:%M')} {review.time_zone} ({hours:g} h)")


def to_csv(review: SiteReview) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for station in review.stations:
        for c in station.channels:
            flags = "; ".join(f.detail for f in station.flags if f.channel == c.channel)
            writer.writerow([
                review.site_id, review.day.isoformat(), station.station_id, station.name, station.verdict.value,
                c.channel, c.unit, _exact(c.min), _exact(c.max), _exact(c.mean), _exact(c.last),
                "" if c.last_at is None else to_local(c.last_at, review.time_zone).isoformat(),
                _exact(c.limit_low), _exact(c.limit_high), c.samples_good, c.samples_expected,
                repr(c.completeness_ratio), flags,
            ])
    return out.getvalue()


def _exact(value: float | None) -> str:
    return "" if value is None else repr(value)


@functools.cache
def environment() -> Environment:
    """The templates of review/templates, built on first use (not at import)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals.update(show=show, local=local, window_text=window_text, pct=lambda r: f"{100 * r:.2f}")
    return env


def to_html(review: SiteReview, signature: Signature, *, page: dict[str, Any] | None = None) -> str:
    """The log as one HTML document; ``page`` adds the product page's parts (navigation, signing)."""
    return environment().get_template("log.html").render(review=review, sig=signature, page=page)


def to_pdf(review: SiteReview, signature: Signature, *, font_file: Path | None = None) -> bytes:
    pdf = _LogPdf(review, signature, font_file)
    pdf.render()
    return bytes(pdf.output())


_COLUMNS_MM = (
    ("Channel", 38), ("Unit", 16), ("Min", 22), ("Max", 22), ("Mean", 22), ("Last", 22),
    ("Last at (site time)", 36), ("Good / expected (samples)", 40), ("Complete (%)", 22), ("Limits (unit)", 32),
)


class _LogPdf(FPDF):
    def __init__(self, review: SiteReview, signature: Signature, font_file: Path | None) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self._review = review
        self._sig = signature
        self.set_auto_page_break(True, margin=12)
        self.set_title(f"Regulator station operation log {review.site_id} {review.day.isoformat()}")
        self.set_creation_date(signature.generated_at)
        if font_file is not None:
            self.add_font("LogFont", "", str(font_file))
            self._family, self._unicode = "LogFont", True
        else:
            self._family, self._unicode = "Helvetica", False

    def text_of(self, value: str) -> str:
        # The core font knows Latin-1 only: other characters print as "?" (configure
        # review.pdf_font_file with a TTF to print them).
        return value if self._unicode else value.encode("latin-1", "replace").decode("latin-1")

    def say(self, text: str, *, size: float = 9, bold: bool = False, h: float = 5) -> None:
        self.set_font(self._family, "B" if bold and not self._unicode else "", size)
        self.multi_cell(0, h, self.text_of(text), new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(self._family, "", 7)
        self.cell(0, 5, self.text_of(f"{self._review.site_id} {self._review.day.isoformat()} - "
                                     f"sha256 {self._sig.content_sha256} - page {self.page_no()}"), align="C")

    def render(self) -> None:
        r, sig = self._review, self._sig
        self.add_page()
        self.say(f"Regulator station operation log - {r.site_name} ({r.site_id})", size=14, bold=True, h=8)
        self.say(f"Day {r.day.isoformat()}; window {window_text(r)}")
        self.say(f"{len(r.stations)} station(s), {len(r.abnormal)} abnormal; completeness threshold "
                  f"{r.completeness_min_ratio:.0%}; generated {local(sig.generated_at, r)} {r.time_zone}")
        self.say(f"Content SHA-256: {sig.content_sha256}")
        if sig.signed_at is not None:
            self.say(f"Signed by {sig.signed_by} at {local(sig.signed_at, r)} {r.time_zone}", bold=True)
        else:
            self.say("NOT SIGNED", bold=True)
        for station in r.stations:
            self.ln(3)
            verdict = "ABNORMAL" if station.verdict is Verdict.ABNORMAL else "normal"
            ticket = (sig.field_check_tickets or {}).get(station.station_id)
            self.say(f"{station.name} ({station.station_id}) - {verdict} - completeness "
                      f"{100 * station.completeness_ratio:.2f} %" + (f" - field check ticket #{ticket}" if ticket else ""),
                      size=11, bold=True, h=6)
            for flag in station.flags:
                self.say(f"  ! {flag.channel}: {flag.detail}", size=8, h=4)
            self._table(station.channels)
            for f in station.field_readings:
                self.say(f"  field reading {f.channel} {f.field_value:g} {f.unit} at {local(f.taken_at, r)}, SCADA "
                          f"{'-' if f.scada_value is None else f'{f.scada_value:g}'} {f.unit}: "
                          f"{'no SCADA value' if f.agrees is None else 'agrees' if f.agrees else 'DISAGREES'}",
                          size=8, h=4)
            for a in station.alerts:
                self.say(f"  alert #{a.id} {a.severity} {a.summary} from {local(a.started_at, r)}"
                          f"{'' if a.resolved_at is None else ' to ' + local(a.resolved_at, r)}", size=8, h=4)
            for t in station.tickets:
                self.say(f"  ticket #{t.id} {t.severity} {t.title} opened {local(t.opened_at, r)}", size=8, h=4)

    def _table(self, channels: tuple[ChannelSummary, ...]) -> None:
        self.set_font(self._family, "", 7)
        for title, width in _COLUMNS_MM:
            self.cell(width, 5, title, border=1)
        self.ln()
        for c in channels:
            limits = f"{show(c.limit_low, c.unit)} .. {show(c.limit_high, c.unit)}" if (
                c.limit_low is not None or c.limit_high is not None) else ""
            cells = (c.channel, c.unit, show(c.min, c.unit), show(c.max, c.unit), show(c.mean, c.unit),
                     show(c.last, c.unit), local(c.last_at, self._review, "%m-%d %H:%M:%S"),
                     f"{c.samples_good} / {c.samples_expected}", f"{100 * c.completeness_ratio:.2f}", limits)
            for (_title, width), text in zip(_COLUMNS_MM, cells, strict=True):
                self.cell(width, 4.5, self.text_of(text), border=1)
            self.ln()
