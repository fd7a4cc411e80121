"""What is checked on each kind of inspection (DOMAIN.md "Inspections and maintenance",
rule book 12 arts. 7-13; rule books 1 and 19 for security systems).

Items are data: a key that results are recorded under, and the text the technician sees.
Field readings (pressures, gas) are recorded separately (inspections/records.py) and
compared with SCADA; the checklist says that they were taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from sitewatch.i18n import lazy


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    text: str  # English, marked for translation: shown with i18n.gettext(text)


def _items(*pairs: tuple[str, str]) -> tuple[Item, ...]:
    return tuple(Item(key, text) for key, text in pairs)


CHECKLISTS: dict[str, tuple[Item, ...]] = {
    "regulator_round": _items(
        ("inlet_pressure", lazy("Inlet pressure read on the gauge (compare with SCADA)")),
        ("operating_closing_pressure", lazy("Regulator operating and closing pressure with a U-tube manometer")),
        ("leak_check", lazy("Leak check with a portable detector")),
        ("vents", lazy("Vents clear")),
        ("heating_power", lazy("Heating and power supply")),
        ("doors_windows", lazy("Doors and windows, locks")),
        ("fire_extinguishers", lazy("Fire extinguishers present and charged")),
        ("cleaning", lazy("Station cleaned")),
    ),
    "regulator_seasonal": _items(
        ("plan_approved", lazy("Maintenance plan approved beforehand")),
        ("running_path_pressures", lazy("Running regulator: operating, lock-up, relief and slam-shut pressure tested")),
        ("standby_path_pressures", lazy("Standby regulator: operating, lock-up, relief and slam-shut pressure tested")),
        ("path_switched", lazy("Compliant: running and standby paths switched")),
        ("ppm_leak_detection", lazy("Leak detection (ppm)")),
        ("vents", lazy("Vents clear")),
        ("heating", lazy("Heating")),
        ("fire_kit", lazy("Fire-fighting kit")),
        ("report_filed", lazy("Report filed afterwards")),
    ),
    "regulator_overhaul": _items(
        ("maker_overhaul", lazy("Overhaul by the maker")),
        ("pressures_after", lazy("Pressures tested after the overhaul")),
    ),
    "valve_well_seasonal": _items(
        ("leak_check", lazy("Leak check")),
        ("valve_operation", lazy("Valve operates")),
        ("supports", lazy("Supports")),
        ("expansion_joints", lazy("Expansion joints")),
        ("rust", lazy("Rust")),
        ("water_mud", lazy("Water and mud removed")),
    ),
    "valve_well_after_rain": _items(
        ("water_mud", lazy("Water and mud removed")),
        ("leak_check", lazy("Leak check")),
        ("supports", lazy("Supports")),
    ),
    "valve_yearly": _items(
        ("overhaul", lazy("Valve overhauled")),
        ("stiff_replaced", lazy("Stiff valve replaced (if any)")),
        ("ledger_updated", lazy("Asset ledger updated")),
    ),
    "valve_triennial": _items(
        ("survey", lazy("Valve and pipe surveyed")),
        ("ledger_updated", lazy("Asset ledger updated")),
    ),
    "cathodic_protection": _items(
        ("potential_in_range", lazy("Potential within range (-850 mV vs Cu/CuSO4 or more negative)")),
    ),
    "security_monthly": _items(
        ("front_end", lazy("Front end: detectors, cameras, lenses, PTZ, decoders")),
        ("cabling", lazy("Cabling: lightning grounding, shielding, joints")),
        ("central_equipment", lazy("Central equipment: matrix, alarm host, monitors, recorders, power")),
        ("playback_clarity", lazy("Playback clarity")),
        ("system_functions", lazy("System functions tested")),
    ),
}


def item_keys(kind: str) -> frozenset[str]:
    return frozenset(item.key for item in CHECKLISTS.get(kind, ()))
