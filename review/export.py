"""The log as CSV (exact numbers), HTML (Jinja2, self-contained) and PDF (fpdf2, with the
Chinese font found on the machine: i18n/fonts.py; nothing fetched), in the current
locale (i18n). Times are shown in the site's local time."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from sitewatch import i18n
from sitewatch.domain.time import to_local
from sitewatch.i18n import messages
from sitewatch.i18n.fonts import FONT_DIRS, LocalisedPdf
from sitewatch.i18n.labels import label as channel_label  # pure tables of labels, no web parts
from sitewatch.i18n.labels import unit_text
from sitewatch.review.labels import (
    SEVERITIES,
    VERDICTS,
    agreement,
    flag_lines,
    label,
    local,
    window_text,
)
from sitewatch.review.models import AlertEntry, ChannelSummary, SiteReview, StationReview, TicketEntry, Verdict

TEMPLATES = Path(__file__).parent / "templates"
# Digits worth showing per unit (as the dashboard: a manager reads 2.487 kPa). CSV keeps all.
DECIMALS = {"MPa": 4, "kPa": 3, "Nm3/h": 1, "degC": 1, "%LEL": 2, "V": 2, "s": 0, "state": 0}

CSV_COLUMNS = (
    i18n.lazy("site_id"), i18n.lazy("day"), i18n.lazy("station_id"), i18n.lazy("station_name"),
    i18n.lazy("verdict"), i18n.lazy("channel"), i18n.lazy("unit"), i18n.lazy("min (in unit)"),
    i18n.lazy("max (in unit)"), i18n.lazy("mean (in unit)"), i18n.lazy("last (in unit)"),
    i18n.lazy("last_at (site time, ISO 8601)"), i18n.lazy("limit_low (in unit)"), i18n.lazy("limit_high (in unit)"),
    i18n.lazy("samples_good (count)"), i18n.lazy("samples_expected (count)"), i18n.lazy("completeness (ratio 0-1)"),
    i18n.lazy("flags"), i18n.lazy("alerts"), i18n.lazy("tickets"),
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


def alert_summary(alert: AlertEntry) -> str:
    """The alert's summary in the current locale; its stored English if it has no message."""
    return messages.render(alert.summary_msg, alert.summary)


def ticket_title(ticket: TicketEntry) -> str:
    """The ticket's title in the current locale; its stored English if it has no message."""
    return messages.render(ticket.title_msg, ticket.title)


def to_csv(review: SiteReview) -> str:
    """Headers, verdicts, flags, alert summaries and ticket titles in the current locale;
    numbers exact, times site-local ISO 8601. A station's alerts and tickets are on each of
    its rows, as its verdict is."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([i18n.gettext(c) for c in CSV_COLUMNS])
    for station in review.stations:
        flags = flag_lines(station, review)
        alerts = "; ".join(f"#{a.id} {label(SEVERITIES, a.severity)} {alert_summary(a)}" for a in station.alerts)
        tickets = "; ".join(f"#{t.id} {label(SEVERITIES, t.severity)} {ticket_title(t)}" for t in station.tickets)
        for c in station.channels:
            writer.writerow([
                review.site_id, review.day.isoformat(), station.station_id, station.name,
                label(VERDICTS, station.verdict.value), c.channel, c.unit, _exact(c.min), _exact(c.max),
                _exact(c.mean), _exact(c.last),
                "" if c.last_at is None else to_local(c.last_at, review.time_zone).isoformat(),
                _exact(c.limit_low), _exact(c.limit_high), c.samples_good, c.samples_expected,
                repr(c.completeness_ratio), "; ".join(text for channel, text in flags if channel == c.channel),
                alerts, tickets,
            ])
    return out.getvalue()


def _exact(value: float | None) -> str:
    return "" if value is None else repr(value)


@functools.cache
def environment() -> Environment:
    """The templates of review/templates, built on first use (not at import)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    i18n.install(env)
    env.globals.update(show=show, local=local, window_text=window_text, pct=lambda r: f"{100 * r:.2f}",
                       flag_lines=flag_lines, agreement=agreement, channel_label=channel_label, unit_text=unit_text, verdict=lambda v: label(VERDICTS, v),
                       severity=lambda s: label(SEVERITIES, s), alert_summary=alert_summary,
                       ticket_title=ticket_title)
    return env


def to_html(review: SiteReview, signature: Signature) -> str:
    """The log as one self-contained HTML document in the current locale."""
    return environment().get_template("log.html").render(review=review, sig=signature,
                                                         lang=i18n.current_locale().replace("_", "-"))


def log_body(review: SiteReview, signature: Signature) -> Markup:
    """The log's tables without a document around them, for the product's page."""
    return Markup(environment().get_template("_log_body.html").render(review=review, sig=signature))


def to_pdf(review: SiteReview, signature: Signature, *, font_file: Path | None = None,
           font_dirs: Iterable[Path] = FONT_DIRS) -> bytes:
    """The log as a PDF in the current locale; raises sitewatch.i18n.fonts.FontMissing for a Chinese
    PDF on a machine without a Chinese font."""
    pdf = _LogPdf(review, signature, font_file, font_dirs)
    pdf.render()
    return bytes(pdf.output())


_COLUMNS_MM = (
    (i18n.lazy("Channel"), 38), (i18n.lazy("Unit"), 16), (i18n.lazy("Min"), 22), (i18n.lazy("Max"), 22),
    (i18n.lazy("Mean"), 22), (i18n.lazy("Last"), 22), (i18n.lazy("Last at (site time)"), 36),
    (i18n.lazy("Good / expected (samples)"), 40), (i18n.lazy("Complete (%)"), 22), (i18n.lazy("Limits (unit)"), 32),
)


class _LogPdf(LocalisedPdf):
    def __init__(self, review: SiteReview, signature: Signature, font_file: Path | None,
                 font_dirs: Iterable[Path]) -> None:
        super().__init__(orientation="L", font_file=font_file, font_dirs=font_dirs)
        self._review = review
        self._sig = signature
        self.set_auto_page_break(True, margin=12)
        self.set_title(self._heading())
        self.set_creation_date(signature.generated_at)

    def _heading(self) -> str:
        r = self._review
        return i18n.gettext("Regulator station operation log - %(site)s (%(site_id)s), %(day)s",
                            site=r.site_name, site_id=r.site_id, day=r.day.isoformat())

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(self.face_name, "", 7)
        self.cell(0, 5, self.text_of(i18n.gettext("%(site_id)s %(day)s - sha256 %(sha256)s - page %(page)s",
                                                  site_id=self._review.site_id, day=self._review.day.isoformat(),
                                                  sha256=self._sig.content_sha256, page=self.page_no())),
                  align="C")

    def render(self) -> None:
        r, sig, _ = self._review, self._sig, i18n.gettext
        self.add_page()
        self.say(self._heading(), size=14, bold=True, h=8)
        self.say(_("Day %(day)s; window %(window)s", day=r.day.isoformat(), window=window_text(r)))
        self.say(_("%(stations)s station(s), %(abnormal)s abnormal; completeness threshold %(threshold)s; "
                   "generated %(at)s %(zone)s", stations=len(r.stations), abnormal=len(r.abnormal),
                   threshold=format(r.completeness_min_ratio, ".0%"), at=local(sig.generated_at, r), zone=r.time_zone))
        self.say(_("Content SHA-256: %(sha256)s", sha256=sig.content_sha256))
        if sig.signed_at is not None:
            self.say(_("Signed by %(name)s at %(at)s %(zone)s", name=sig.signed_by, at=local(sig.signed_at, r),
                       zone=r.time_zone), bold=True)
        else:
            self.say(_("NOT SIGNED"), bold=True)
        for station in r.stations:
            self._station(station)

    def _station(self, station: StationReview) -> None:
        r, _ = self._review, i18n.gettext
        self.ln(3)
        verdict = label(VERDICTS, station.verdict.value)
        if station.verdict is Verdict.ABNORMAL:
            verdict = verdict.upper()
        ticket = (self._sig.field_check_tickets or {}).get(station.station_id)
        line = _("%(name)s (%(id)s) - %(verdict)s - completeness %(pct)s %%", name=station.name,
                 id=station.station_id, verdict=verdict, pct=format(100 * station.completeness_ratio, ".2f"))
        if ticket:
            line += " - " + _("field check ticket #%(id)s", id=ticket)
        self.say(line, size=11, bold=True, h=6)
        for channel, text in flag_lines(station, r):
            self.say(f"  ! {channel_label(channel)}: {text}", size=8, h=4)
        self._table(station.channels)
        for f in station.field_readings:
            self.say("  " + _("field reading %(channel)s %(value)s %(unit)s at %(at)s, SCADA %(scada)s %(unit)s: "
                              "%(agreement)s", channel=channel_label(f.channel), value=format(f.field_value, "g"), unit=f.unit,
                              at=local(f.taken_at, r),
                              scada="-" if f.scada_value is None else format(f.scada_value, "g"), agreement=agreement(f)),
                     size=8, h=4)
        for a in station.alerts:
            until = "" if a.resolved_at is None else _(" to %(at)s", at=local(a.resolved_at, r))
            self.say("  " + _("alert #%(id)s %(severity)s %(summary)s from %(at)s", id=a.id,
                              severity=label(SEVERITIES, a.severity), summary=alert_summary(a),
                              at=local(a.started_at, r)) + until, size=8, h=4)
        for t in station.tickets:
            self.say("  " + _("ticket #%(id)s %(severity)s %(title)s opened %(at)s", id=t.id,
                              severity=label(SEVERITIES, t.severity), title=ticket_title(t),
                              at=local(t.opened_at, r)),
                     size=8, h=4)

    def _table(self, channels: tuple[ChannelSummary, ...]) -> None:
        self.set_font(self.face_name, "", 7)
        for title, width in _COLUMNS_MM:
            self.cell(width, 5, self.text_of(i18n.gettext(title)), border=1)
        self.ln()
        for c in channels:
            limits = f"{show(c.limit_low, c.unit)} .. {show(c.limit_high, c.unit)}" if (
                c.limit_low is not None or c.limit_high is not None) else ""
            cells = (channel_label(c.channel), unit_text(c.unit), show(c.min, c.unit), show(c.max, c.unit), show(c.mean, c.unit),
                     show(c.last, c.unit), local(c.last_at, self._review, "%m-%d %H:%M:%S"),
                     f"{c.samples_good} / {c.samples_expected}", f"{100 * c.completeness_ratio:.2f}", limits)
            for (_title, width), text in zip(_COLUMNS_MM, cells, strict=True):
                self.cell(width, 4.5, self.text_of(text), border=1)
            self.ln()
