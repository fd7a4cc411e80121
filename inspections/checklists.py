"""What is checked on each kind of inspection (DOMAIN.md "Inspections and maintenance",
rule book 12 arts. 7-13; rule books 1 and 19 for security systems).

Items are data: a key that results are recorded under, and the text the technician sees.
Field readings (pressures, gas) are recorded separately (inspections/records.py) and
compared with SCADA; the checklist says that they were taken.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    text: str


def _items(*pairs: tuple[str, str]) -> tuple[Item, ...]:
    return tuple(Item(key, text) for key, text in pairs)


CHECKLISTS: dict[str, tuple[Item, ...]] = {
    "regulator_round": _items(
        ("inlet_pressure", "Inlet pressure read on the gauge (compare with SCADA)"),
        ("operating_closing_pressure", "Regulator operating and closing pressure with a U-tube manometer"),
        ("leak_check", "Leak check with a portable detector"),
        ("vents", "Vents clear"),
        ("heating_power", "Heating and power supply"),
        ("doors_windows", "Doors and windows, locks"),
        ("fire_extinguishers", "Fire extinguishers present and charged"),
        ("cleaning", "Station cleaned"),
    ),
    "regulator_seasonal": _items(
        ("plan_approved", "Maintenance plan approved beforehand"),
        ("running_path_pressures", "Running regulator: operating, lock-up, relief and slam-shut pressure tested"),
        ("standby_path_pressures", "Standby regulator: operating, lock-up, relief and slam-shut pressure tested"),
        ("path_switched", "Compliant: running and standby paths switched"),
        ("ppm_leak_detection", "Leak detection (ppm)"),
        ("vents", "Vents clear"),
        ("heating", "Heating"),
        ("fire_kit", "Fire-fighting kit"),
        ("report_filed", "Report filed afterwards"),
    ),
    "regulator_overhaul": _items(
        ("maker_overhaul", "Overhaul by the maker"),
        ("pressures_after", "Pressures tested after the overhaul"),
    ),
    "valve_well_seasonal": _items(
        ("leak_check", "Leak check"),
        ("valve_operation", "Valve operates"),
        ("supports", "Supports"),
        ("expansion_joints", "Expansion joints"),
        ("rust", "Rust"),
        ("water_mud", "Water and mud removed"),
    ),
    "valve_well_after_rain": _items(
        ("water_mud", "Water and mud removed"),
        ("leak_check", "Leak check"),
        ("supports", "Supports"),
    ),
    "valve_yearly": _items(
        ("overhaul", "Valve overhauled"),
        ("stiff_replaced", "Stiff valve replaced (if any)"),
        ("ledger_updated", "Asset ledger updated"),
    ),
    "valve_triennial": _items(
        ("survey", "Valve and pipe surveyed"),
        ("ledger_updated", "Asset ledger updated"),
    ),
    "cathodic_protection": _items(
        ("potential_in_range", "Potential within range (-850 mV vs Cu/CuSO4 or more negative)"),
    ),
    "security_monthly": _items(
        ("front_end", "Front end: detectors, cameras, lenses, PTZ, decoders"),
        ("cabling", "Cabling: lightning grounding, shielding, joints"),
        ("central_equipment", "Central equipment: matrix, alarm host, monitors, recorders, power"),
        ("playback_clarity", "Playback clarity"),
        ("system_functions", "System functions tested"),
    ),
}


def item_keys(kind: str) -> frozenset[str]:
    return frozenset(item.key for item in CHECKLISTS.get(kind, ()))
