"""Reports as HTML (Jinja2, self-contained: styles and charts inline, nothing fetched) and
PDF (fpdf2, with the Chinese font found on the machine: i18n/fonts.py), in the current
locale (i18n). Times are shown in the site's (or customer's) local time."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from sitewatch import i18n
from sitewatch.domain.time import to_local
from sitewatch.i18n import messages
from sitewatch.i18n.fonts import FONT_DIRS, LocalisedPdf
from sitewatch.inspections.plans import PLAN_KINDS
from sitewatch.inspections.plans import plan as plan_of
from sitewatch.reports.charts import Series, bar_chart, inline
from sitewatch.reports.compute import AXES
from sitewatch.reports.maintenance import SERVICE_TYPES
from sitewatch.reports.models import ComplaintRateReport, InspectionReport, MaintenanceReport, RepeatFault

TEMPLATES = Path(__file__).parent / "templates"
SERVICE_TYPE_NAMES = {"A": i18n.lazy("A paid"), "B": i18n.lazy("B contract"), "C": i18n.lazy("C warranty"),
                      "D": i18n.lazy("D internal")}
AXIS_NAMES = {"attitude": i18n.lazy("attitude"), "skill": i18n.lazy("skill"),
              "arrival_time": i18n.lazy("arrival time"), "follow_through": i18n.lazy("follow-through")}
COMPLAINT_CLASSES = {"quality": i18n.lazy("quality"), "non_quality": i18n.lazy("non-quality"),
                     "other": i18n.lazy("other")}
FINDING_SOURCES = {"checklist": i18n.lazy("checklist"), "field-reading": i18n.lazy("field reading"),
                   "pressure-test": i18n.lazy("pressure test")}
FLAG_KINDS = {"door-never-opened": i18n.lazy("door never opened"), "door-no-data": i18n.lazy("no door data")}


def local(ts: datetime | None, time_zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "-" if ts is None else to_local(ts, time_zone).strftime(fmt)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def label(table: dict[str, str], code: str) -> str:
    """A code's translated label; an unknown code as it is."""
    return i18n.gettext(table[code]) if code in table else code


def plan_title(kind: str, title: str) -> str:
    """A plan's title in the reader's language (its English title if the plan is unknown)."""
    return i18n.gettext(plan_of(kind).title) if kind in PLAN_KINDS else title


def fault_title(fault: RepeatFault) -> str:
    """A repeat fault's ticket title in the reader's language (its stored English without a message)."""
    return messages.render(fault.title_msg, fault.title)


# --- charts ----------------------------------------------------------------------------


def maintenance_charts(r: MaintenanceReport, *, font_family: str = "sans-serif") -> list[str]:
    _ = i18n.gettext
    months = [m.month for m in r.tickets_by_month]
    return [
        bar_chart(_("Tickets opened per month, by service type (count)"), months,
                  [Series(label(SERVICE_TYPE_NAMES, k), [m.by_service_type_count[k] for m in r.tickets_by_month])
                   for k in SERVICE_TYPES], stacked=True, font_family=font_family),
        bar_chart(_("SLA compliance (%)"), [_("arrival by arrive-by"), _("resolution by resolve-by")],
                  [Series(_("compliance"), [r.arrival.compliance_pct, r.resolution.compliance_pct])], y_max=100,
                  value_format="{:.1f}", font_family=font_family),
        bar_chart(_("Satisfaction, mean per axis (1-4, %(n)s rated)", n=r.satisfaction.rated_count),
                  [label(AXIS_NAMES, a) for a in AXES],
                  [Series(_("mean"), [getattr(r.satisfaction, f"{a}_mean") for a in AXES])], y_max=4,
                  value_format="{:.2f}", font_family=font_family),
    ]


def inspection_charts(r: InspectionReport, *, font_family: str = "sans-serif") -> list[str]:
    _ = i18n.gettext
    return [bar_chart(_("Inspections done and overdue at the month's end (count)"),
                      [i18n.gettext(s.title) for s in r.systems],
                      [Series(_("done"), [len(s.inspections) for s in r.systems]),
                       Series(_("overdue"), [len(s.overdue_at_end) for s in r.systems])], font_family=font_family)]


# --- HTML -------------------------------------------------------------------------------


@functools.cache
def environment() -> Environment:
    """The templates of reports/templates, built on first use (not at import)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    i18n.install(env)
    env.globals.update(local=local, pct=pct, mean=mean, axes=AXES, service_types=SERVICE_TYPES, label=label,
                       plan_title=plan_title, fault_title=fault_title, tr=i18n.gettext, service_type_names=SERVICE_TYPE_NAMES,
                       axis_names=AXIS_NAMES, complaint_classes=COMPLAINT_CLASSES, finding_sources=FINDING_SOURCES,
                       flag_kinds=FLAG_KINDS)
    return env


def _svgs(svgs: Sequence[str]) -> list[Markup]:
    return [Markup(inline(s)) for s in svgs]  # built here from numbers and escaped labels


def _render(template: str, **context: object) -> str:
    return environment().get_template(template).render(lang=i18n.current_locale().replace("_", "-"), **context)


def maintenance_html(r: MaintenanceReport) -> str:
    return _render("maintenance.html", r=r, charts=_svgs(maintenance_charts(r)),
                   tz=r.time_zones[0] if r.time_zones else "UTC")


def inspection_html(r: InspectionReport) -> str:
    return _render("inspection.html", r=r, charts=_svgs(inspection_charts(r)))


def complaint_rate_html(r: ComplaintRateReport) -> str:
    return _render("complaint_rate.html", r=r)


# --- PDF --------------------------------------------------------------------------------


class ReportPdf(LocalisedPdf):
    """Portrait A4 with a title line, text, simple tables and the SVG charts."""

    def __init__(self, title: str, generated_at: datetime, font_file: Path | None,
                 font_dirs: Iterable[Path] = FONT_DIRS) -> None:
        super().__init__(orientation="P", font_file=font_file, font_dirs=font_dirs)
        self.set_auto_page_break(True, margin=14)
        self.set_title(title)
        self.set_creation_date(generated_at)
        self._title = title
        self.add_page()

    def heading(self, text: str) -> None:
        self.ln(2)
        self.say(text, size=11, bold=True, h=6)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], widths_mm: Sequence[float]) -> None:
        self.set_font(self.face_name, "B" if not self.embedded else "", 7.5)
        for title, width in zip(headers, widths_mm, strict=True):
            self.cell(width, 5, self.text_of(title), border=1)
        self.ln()
        self.set_font(self.face_name, "", 7.5)
        for row in rows:
            for value, width in zip(row, widths_mm, strict=True):
                text = self.text_of(str(value))
                while text and self.get_string_width(text) > width - 1.5:
                    text = text[:-1]
                self.cell(width, 4.5, text, border=1)
            self.ln()
        if not rows:
            self.say(i18n.gettext("(none)"), size=8, h=4)

    def chart(self, svg: str, *, width_mm: float = 150) -> None:
        height_mm = width_mm * 220 / 480
        if self.get_y() + height_mm > self.h - 16:
            self.add_page()
        self.image(io.BytesIO(svg.encode()), x=self.l_margin, y=self.get_y(), w=width_mm)
        self.set_y(self.get_y() + height_mm + 2)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(self.face_name, "", 7)
        self.cell(0, 5, self.text_of(i18n.gettext("%(title)s - page %(page)s", title=self._title,
                                                  page=self.page_no())), align="C")


def maintenance_pdf(r: MaintenanceReport, *, font_file: Path | None = None,
                    font_dirs: Iterable[Path] = FONT_DIRS) -> bytes:
    _ = i18n.gettext
    tz = r.time_zones[0] if r.time_zones else "UTC"
    pdf = ReportPdf(_("Quarterly maintenance report %(customer)s %(period)s", customer=r.customer_id,
                      period=r.period), r.generated_at, font_file, font_dirs)
    pdf.say(_("Quarterly maintenance report - %(name)s", name=r.customer_name), size=14, bold=True, h=8)
    pdf.say(_("Customer %(customer)s; %(period)s: %(first)s to %(last)s (site time: %(zones)s); sites %(sites)s; "
              "generated %(at)s %(zone)s", customer=r.customer_id, period=r.period, first=r.first_day,
              last=r.last_day, zones=", ".join(r.time_zones) or "UTC", sites=", ".join(r.site_ids) or "-",
              at=local(r.generated_at, tz), zone=tz))
    pdf.heading(_("Tickets and SLA"))
    pdf.say(_("Tickets opened: %(opened)s; resolved: %(resolved)s", opened=r.tickets_count,
              resolved=r.resolved_count))
    pdf.table([_("Month"), *[label(SERVICE_TYPE_NAMES, k) for k in SERVICE_TYPES], _("Total")],
              [[m.month, *[m.by_service_type_count[k] for k in SERVICE_TYPES], sum(m.by_service_type_count.values())]
               for m in r.tickets_by_month], [30, 28, 28, 28, 28, 28])
    pdf.ln(2)
    pdf.table([_("Deadline"), _("Met"), _("Missed"), _("Not yet due"), _("Compliance (%)")],
              [[_("arrive-by"), r.arrival.met_count, r.arrival.missed_count, r.arrival.not_due_count,
                pct(r.arrival.compliance_pct)],
               [_("resolve-by"), r.resolution.met_count, r.resolution.missed_count, r.resolution.not_due_count,
                pct(r.resolution.compliance_pct)]], [34, 28, 28, 34, 34])
    pdf.ln(2)
    for svg in maintenance_charts(r, font_family=pdf.face_name):
        pdf.chart(svg)
    pdf.heading(_("Repeat faults: %(n)s", n=len(r.repeat_faults)))
    pdf.table([_("Ticket"), _("Repeats"), _("Asset"), _("Opened (site time)"), _("Title")],
              [[f"#{f.ticket_id}", f"#{f.repeat_of}", f"{f.asset_name} ({f.asset_id})",
                local(f.opened_at, f.time_zone), fault_title(f)] for f in r.repeat_faults], [16, 16, 50, 30, 78])
    s = r.satisfaction
    pdf.heading(_("Satisfaction: %(n)s signed-off rating(s)", n=s.rated_count))
    pdf.table([_("Axis"), _("Mean (1-4)"), *[_("Level %(n)s", n=n) for n in range(1, 5)]],
              [[label(AXIS_NAMES, a), mean(getattr(s, f"{a}_mean")), *s.levels_count[a]] for a in AXES],
              [40, 30, 25, 25, 25, 25])
    pdf.heading(_("Inspections done: %(n)s", n=r.inspections_done_count))
    pdf.table([_("Plan"), _("Done (count)")], [[plan_title(k.kind, k.title), k.count] for k in r.inspections_done],
              [150, 30])
    pdf.heading(_("Overdue at %(at)s %(zone)s: %(n)s", at=local(r.overdue_as_of, tz), zone=tz,
                  n=len(r.overdue_at_end)))
    pdf.table([_("Site"), _("Target"), _("Plan"), _("Due on"), _("Technician")],
              [[o.site_id, o.target_name or o.target_id, plan_title(o.kind, o.title), o.due_on.isoformat(),
                o.technician or "-"] for o in r.overdue_at_end], [28, 50, 46, 26, 40])
    pdf.heading(_("Complaints: %(n)s", n=sum(r.complaints_by_class_count.values())))
    pdf.say("; ".join(f"{label(COMPLAINT_CLASSES, k)}: {v}" for k, v in r.complaints_by_class_count.items()))
    return bytes(pdf.output())


def inspection_pdf(r: InspectionReport, *, font_file: Path | None = None,
                   font_dirs: Iterable[Path] = FONT_DIRS) -> bytes:
    _ = i18n.gettext
    tz = r.time_zone
    pdf = ReportPdf(_("Monthly inspection report %(site)s %(period)s", site=r.site_id, period=r.period),
                    r.generated_at, font_file, font_dirs)
    pdf.say(_("Monthly inspection report - %(name)s (%(site)s)", name=r.site_name, site=r.site_id), size=14,
            bold=True, h=8)
    pdf.say(_("Customer %(name)s (%(customer)s); %(period)s: %(first)s to %(last)s (%(zone)s); generated %(at)s; "
              "overdue as of %(as_of)s", name=r.customer_name, customer=r.customer_id, period=r.period,
              first=r.first_day, last=r.last_day, zone=tz, at=local(r.generated_at, tz),
              as_of=local(r.overdue_as_of, tz)))
    for svg in inspection_charts(r, font_family=pdf.face_name):
        pdf.chart(svg)
    for s in r.systems:
        pdf.heading(_("%(system)s: %(done)s done, %(checked)s item(s) checked, %(failed)s failed, %(findings)s "
                      "finding(s), %(flags)s flag(s), %(overdue)s overdue", system=i18n.gettext(s.title),
                      done=len(s.inspections), checked=s.items_checked_count, failed=s.items_failed_count,
                      findings=len(s.findings), flags=len(s.flags), overdue=len(s.overdue_at_end)))
        pdf.table(["#", _("Plan"), _("Target"), _("Started (site time)"), _("In charge"), _("Items"), _("Failed")],
                  [[i.id, plan_title(i.kind, i.kind), i.target_id, local(i.started_at, tz), i.in_charge,
                    i.items_checked_count, i.items_failed_count] for i in s.inspections], [12, 36, 34, 32, 36, 20, 20])
        for f in s.findings:
            pdf.say("  " + _("finding (inspection #%(id)s, %(target)s, %(source)s): %(detail)s", id=f.inspection_id,
                             target=f.target_id, source=label(FINDING_SOURCES, f.source), detail=f.detail),
                    size=8, h=4)
        for f in s.flags:
            reviewed = (_("reviewed by %(name)s", name=f.reviewed_by) if f.reviewed_by else _("not reviewed"))
            # The flag's stored detail is English; its kind and the round's times say the same.
            pdf.say("  " + _("FLAG %(kind)s (inspection #%(id)s, %(asset)s)", kind=label(FLAG_KINDS, f.kind),
                             id=f.inspection_id, asset=f.asset_id) + f" - {reviewed}", size=8, h=4)
        for o in s.overdue_at_end:
            pdf.say("  " + _("OVERDUE %(plan)s: %(target)s due %(due)s (%(technician)s)",
                             plan=plan_title(o.kind, o.title), target=o.target_name or o.target_id,
                             due=o.due_on.isoformat(), technician=o.technician or _("no technician")), size=8, h=4)
    return bytes(pdf.output())


def complaint_rate_pdf(r: ComplaintRateReport, *, font_file: Path | None = None,
                       font_dirs: Iterable[Path] = FONT_DIRS) -> bytes:
    _ = i18n.gettext
    pdf = ReportPdf(_("Monthly complaint rate %(period)s", period=r.period), r.generated_at, font_file, font_dirs)
    pdf.say(_("Monthly complaint rate - %(period)s", period=r.period), size=14, bold=True, h=8)
    pdf.say(_("%(first)s to %(last)s, each customer in its own time zone. Rate = complaints received / service "
              "calls (tickets opened, internal type D excluded).", first=r.first_day, last=r.last_day))
    pdf.table([_("Customer"), _("Complaints"), label(COMPLAINT_CLASSES, "quality"),
               label(COMPLAINT_CLASSES, "non_quality"), label(COMPLAINT_CLASSES, "other"), _("Service calls"),
               _("Rate (%)"), _("Due")],
              [[c.customer_name, c.complaints_count, c.by_class_count["quality"], c.by_class_count["non_quality"],
                c.by_class_count["other"], c.service_calls_count, pct(c.complaint_rate_pct),
                f"{local(c.due_at, c.time_zone)} {c.time_zone}"] for c in r.customers],
              [40, 18, 16, 18, 14, 20, 16, 48])
    return bytes(pdf.output())
