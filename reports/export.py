"""Reports as HTML (Jinja2, self-contained: styles and charts inline, nothing fetched) and
PDF (fpdf2: the core font, or the TTF of config.review.pdf_font_file for non-Latin names,
as the daily log does). Times are shown in the site's (or customer's) local time."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from domain.time import to_local
from reports.charts import Series, bar_chart, inline
from reports.compute import AXES
from reports.maintenance import SERVICE_TYPES
from reports.models import ComplaintRateReport, InspectionReport, MaintenanceReport

TEMPLATES = Path(__file__).parent / "templates"
SERVICE_TYPE_NAMES = {"A": "A paid", "B": "B contract", "C": "C warranty", "D": "D internal"}


def local(ts: datetime | None, time_zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "-" if ts is None else to_local(ts, time_zone).strftime(fmt)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# --- charts ----------------------------------------------------------------------------


def maintenance_charts(r: MaintenanceReport) -> list[str]:
    months = [m.month for m in r.tickets_by_month]
    return [
        bar_chart("Tickets opened per month, by service type (count)", months,
                  [Series(SERVICE_TYPE_NAMES[k], [m.by_service_type_count[k] for m in r.tickets_by_month])
                   for k in SERVICE_TYPES], stacked=True),
        bar_chart("SLA compliance (%)", ["arrival by arrive-by", "resolution by resolve-by"],
                  [Series("compliance", [r.arrival.compliance_pct, r.resolution.compliance_pct])], y_max=100,
                  value_format="{:.1f}"),
        bar_chart(f"Satisfaction, mean per axis (1-4, {r.satisfaction.rated_count} rated)",
                  [a.replace("_", " ") for a in AXES],
                  [Series("mean", [getattr(r.satisfaction, f"{a}_mean") for a in AXES])], y_max=4,
                  value_format="{:.2f}"),
    ]


def inspection_charts(r: InspectionReport) -> list[str]:
    return [bar_chart("Inspections done and overdue at the month's end (count)",
                      [s.system.replace("_", " ") for s in r.systems],
                      [Series("done", [len(s.inspections) for s in r.systems]),
                       Series("overdue", [len(s.overdue_at_end) for s in r.systems])])]


# --- HTML -------------------------------------------------------------------------------


@functools.cache
def environment() -> Environment:
    """The templates of reports/templates, built on first use (not at import)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals.update(local=local, pct=pct, mean=mean, axes=AXES, service_types=SERVICE_TYPES,
                       service_type_names=SERVICE_TYPE_NAMES)
    return env


def _svgs(svgs: Sequence[str]) -> list[Markup]:
    return [Markup(inline(s)) for s in svgs]  # built here from numbers and escaped labels


def maintenance_html(r: MaintenanceReport) -> str:
    return environment().get_template("maintenance.html").render(r=r, charts=_svgs(maintenance_charts(r)),
                                                                 tz=r.time_zones[0] if r.time_zones else "UTC")


def inspection_html(r: InspectionReport) -> str:
    return environment().get_template("inspection.html").render(r=r, charts=_svgs(inspection_charts(r)))


def complaint_rate_html(r: ComplaintRateReport) -> str:
    return environment().get_template("complaint_rate.html").render(r=r)


# --- PDF --------------------------------------------------------------------------------


class ReportPdf(FPDF):
    """Portrait A4 with a title line, text, simple tables and the SVG charts."""

    def __init__(self, title: str, generated_at: datetime, font_file: Path | None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_auto_page_break(True, margin=14)
        self.set_title(title)
        self.set_creation_date(generated_at)
        self._title = title
        if font_file is not None:
            self.add_font("ReportFont", "", str(font_file))
            self._family, self._unicode = "ReportFont", True
        else:
            self._family, self._unicode = "Helvetica", False
        self.add_page()

    def text_of(self, value: str) -> str:
        # The core font knows Latin-1 only: other characters print as "?" unless a TTF is configured.
        return value if self._unicode else value.encode("latin-1", "replace").decode("latin-1")

    def say(self, text: str, *, size: float = 9, bold: bool = False, h: float = 5) -> None:
        self.set_font(self._family, "B" if bold and not self._unicode else "", size)
        self.multi_cell(0, h, self.text_of(text), new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.say(text, size=11, bold=True, h=6)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], widths_mm: Sequence[float]) -> None:
        self.set_font(self._family, "B" if not self._unicode else "", 7.5)
        for title, width in zip(headers, widths_mm, strict=True):
            self.cell(width, 5, self.text_of(title), border=1)
        self.ln()
        self.set_font(self._family, "", 7.5)
        for row in rows:
            for value, width in zip(row, widths_mm, strict=True):
                text = self.text_of(str(value))
                while text and self.get_string_width(text) > width - 1.5:
                    text = text[:-1]
                self.cell(width, 4.5, text, border=1)
            self.ln()
        if not rows:
            self.say("(none)", size=8, h=4)

    def chart(self, svg: str, *, width_mm: float = 150) -> None:
        height_mm = width_mm * 220 / 480
        if self.get_y() + height_mm > self.h - 16:
            self.add_page()
        self.image(io.BytesIO(svg.encode()), x=self.l_margin, y=self.get_y(), w=width_mm)
        self.set_y(self.get_y() + height_mm + 2)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(self._family, "", 7)
        self.cell(0, 5, self.text_of(f"{self._title} - page {self.page_no()}"), align="C")


def maintenance_pdf(r: MaintenanceReport, *, font_file: Path | None = None) -> bytes:
    tz = r.time_zones[0] if r.time_zones else "UTC"
    pdf = ReportPdf(f"Quarterly maintenance report {r.customer_id} {r.period}", r.generated_at, font_file)
    pdf.say(f"Quarterly maintenance report - {r.customer_name}", size=14, bold=True, h=8)
    pdf.say(f"Customer {r.customer_id}; {r.period}: {r.first_day} to {r.last_day} (site time: "
            f"{', '.join(r.time_zones) or 'UTC'}); sites {', '.join(r.site_ids) or '-'}; "
            f"generated {local(r.generated_at, tz)} {tz}")
    pdf.heading("Tickets and SLA")
    pdf.say(f"Tickets opened: {r.tickets_count}; resolved: {r.resolved_count}")
    pdf.table(["Month", *[SERVICE_TYPE_NAMES[k] for k in SERVICE_TYPES], "Total"],
              [[m.month, *[m.by_service_type_count[k] for k in SERVICE_TYPES], sum(m.by_service_type_count.values())]
               for m in r.tickets_by_month], [30, 28, 28, 28, 28, 28])
    pdf.ln(2)
    pdf.table(["Deadline", "Met", "Missed", "Not yet due", "Compliance (%)"],
              [["arrive-by", r.arrival.met_count, r.arrival.missed_count, r.arrival.not_due_count,
                pct(r.arrival.compliance_pct)],
               ["resolve-by", r.resolution.met_count, r.resolution.missed_count, r.resolution.not_due_count,
                pct(r.resolution.compliance_pct)]], [34, 28, 28, 34, 34])
    pdf.ln(2)
    for svg in maintenance_charts(r):
        pdf.chart(svg)
    pdf.heading(f"Repeat faults: {len(r.repeat_faults)}")
    pdf.table(["Ticket", "Repeats", "Asset", "Opened (site time)", "Title"],
              [[f"#{f.ticket_id}", f"#{f.repeat_of}", f"{f.asset_name} ({f.asset_id})",
                local(f.opened_at, f.time_zone), f.title] for f in r.repeat_faults], [16, 16, 50, 30, 78])
    s = r.satisfaction
    pdf.heading(f"Satisfaction: {s.rated_count} signed-off rating(s)")
    pdf.table(["Axis", "Mean (1-4)", "Level 1", "Level 2", "Level 3", "Level 4"],
              [[a.replace("_", " "), mean(getattr(s, f"{a}_mean")), *s.levels_count[a]] for a in AXES],
              [40, 30, 25, 25, 25, 25])
    pdf.heading(f"Inspections done: {r.inspections_done_count}")
    pdf.table(["Plan", "Done (count)"], [[f"{k.title} ({k.kind})", k.count] for k in r.inspections_done], [150, 30])
    pdf.heading(f"Overdue at {local(r.overdue_as_of, tz)} {tz}: {len(r.overdue_at_end)}")
    pdf.table(["Site", "Target", "Plan", "Due on", "Technician"],
              [[o.site_id, o.target_name or o.target_id, o.kind, o.due_on.isoformat(), o.technician or "-"]
               for o in r.overdue_at_end], [28, 50, 46, 26, 40])
    pdf.heading(f"Complaints: {sum(r.complaints_by_class_count.values())}")
    pdf.say("; ".join(f"{k}: {v}" for k, v in r.complaints_by_class_count.items()))
    return bytes(pdf.output())


def inspection_pdf(r: InspectionReport, *, font_file: Path | None = None) -> bytes:
    tz = r.time_zone
    pdf = ReportPdf(f"Monthly inspection report {r.site_id} {r.period}", r.generated_at, font_file)
    pdf.say(f"Monthly inspection report - {r.site_name} ({r.site_id})", size=14, bold=True, h=8)
    pdf.say(f"Customer {r.customer_name} ({r.customer_id}); {r.period}: {r.first_day} to {r.last_day} ({tz}); "
            f"generated {local(r.generated_at, tz)}; overdue as of {local(r.overdue_as_of, tz)}")
    for svg in inspection_charts(r):
        pdf.chart(svg)
    for s in r.systems:
        pdf.heading(f"{s.title}: {len(s.inspections)} done, {s.items_checked_count} item(s) checked, "
                    f"{s.items_failed_count} failed, {len(s.findings)} finding(s), {len(s.flags)} flag(s), "
                    f"{len(s.overdue_at_end)} overdue")
        pdf.table(["#", "Plan", "Target", "Started (site time)", "In charge", "Items", "Failed"],
                  [[i.id, i.kind, i.target_id, local(i.started_at, tz), i.in_charge, i.items_checked_count,
                    i.items_failed_count] for i in s.inspections], [12, 36, 34, 32, 36, 20, 20])
        for f in s.findings:
            pdf.say(f"  finding (inspection #{f.inspection_id}, {f.target_id}, {f.source}): {f.detail}", size=8, h=4)
        for f in s.flags:
            pdf.say(f"  FLAG {f.kind} (inspection #{f.inspection_id}, {f.asset_id}): {f.detail}"
                    + (f" - reviewed by {f.reviewed_by}" if f.reviewed_by else " - not reviewed"), size=8, h=4)
        for o in s.overdue_at_end:
            pdf.say(f"  OVERDUE {o.title}: {o.target_name or o.target_id} due {o.due_on.isoformat()}"
                    f" ({o.technician or 'no technician'})", size=8, h=4)
    return bytes(pdf.output())


def complaint_rate_pdf(r: ComplaintRateReport, *, font_file: Path | None = None) -> bytes:
    pdf = ReportPdf(f"Monthly complaint rate {r.period}", r.generated_at, font_file)
    pdf.say(f"Monthly complaint rate - {r.period}", size=14, bold=True, h=8)
    pdf.say(f"{r.first_day} to {r.last_day}, each customer in its own time zone. Rate = complaints received / "
            "service calls (tickets opened, internal type D excluded).")
    pdf.table(["Customer", "Complaints", "Quality", "Non-quality", "Other", "Service calls", "Rate (%)", "Due"],
              [[c.customer_name, c.complaints_count, c.by_class_count["quality"], c.by_class_count["non_quality"],
                c.by_class_count["other"], c.service_calls_count, pct(c.complaint_rate_pct),
                f"{local(c.due_at, c.time_zone)} {c.time_zone}"] for c in r.customers],
              [40, 18, 16, 18, 14, 20, 16, 48])
    return bytes(pdf.output())
