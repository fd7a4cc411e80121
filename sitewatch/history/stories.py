"""The week's faults and what the control room and the technician did about each ticket.

Between them the tickets end the week in every state of their lifecycle: closed (with a
repeat of one of them later in the week, and one reached late), followed up, signed off,
resolved, arrived (with a committed resolution), dispatched, and registered (one long past
its arrival deadline). Every fault is over before the demo starts: the live engine never
saw it fire, so it could never resolve it.

Times are hours before the demo starts; moves are minutes after the ticket opened (or after
its arrive-by, for the late arrival). People's words are marked for translation and
written in the language the demo's people work in (seed.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sitewatch.domain.tickets import TicketState
from sitewatch.history.episodes import Fault
from sitewatch.i18n import lazy
from sitewatch.tickets.workflow import Rating

ACKNOWLEDGE = "acknowledge"  # the control room acknowledges the ticket's alerts
COMMIT = "commit"  # the technician commits to a resolution time (``hours`` ahead), ``note`` the reason
DAY = 24 * 60.0


@dataclass(frozen=True, slots=True)
class Move:
    after_min: float
    to: TicketState | str  # a lifecycle state, ACKNOWLEDGE or COMMIT
    note: str = ""
    cause: str = ""  # resolved: the technician's report
    work_done: str = ""
    work_hours: float | None = None
    parts_used: str = ""
    customer: str = ""  # signed off: who signed, and their rating
    rating: Rating | None = None
    hours: float = 0.0  # commit: how far ahead
    from_deadline: bool = False  # after_min counts from the ticket's arrive-by


@dataclass(frozen=True, slots=True)
class Story:
    key: str
    fault: Fault
    hours_ago: float
    minutes: float  # how long the fault lasts
    pick: int  # which asset of its kind, in fleet order with the live schedule's assets last
    moves: tuple[Move, ...] = ()


def _visit(*, dispatch: float, arrive: float, resolve: float, dispatch_note: str, arrive_note: str, cause: str,
           work_done: str, work_hours: float, parts_used: str = "", deadline: bool = False) -> tuple[Move, ...]:
    """Acknowledged, dispatched, on site, resolved: the usual first half of a ticket."""
    return (Move(2, ACKNOWLEDGE, lazy("Seen, calling the technician on duty.")),
            Move(dispatch, TicketState.DISPATCHED, dispatch_note),
            Move(arrive, TicketState.ARRIVED, arrive_note, from_deadline=deadline),
            Move(resolve, TicketState.RESOLVED, cause=cause, work_done=work_done, work_hours=work_hours,
                 parts_used=parts_used, from_deadline=deadline))


def _closed(after: float, follow_up: str) -> tuple[Move, ...]:
    return (Move(after, TicketState.FOLLOWED_UP, follow_up),
            Move(after + 30, TicketState.CLOSED, lazy("Closed after the follow-up call.")))


STORIES: tuple[Story, ...] = (
    Story("pilot-diaphragm", Fault("station", "regulator_failure", {"peak_kpa": 3.2}), 158, 30, 0, (
        *_visit(dispatch=6, arrive=75, resolve=160,
                dispatch_note=lazy("Outlet above the lock-up pressure: go with the regulator kit."),
                arrive_note=lazy("On site. Outlet back at the set point, running path isolated."),
                cause=lazy("Pilot diaphragm torn: the running regulator failed open."),
                work_done=lazy("Replaced the pilot diaphragm, tested lock-up and relief, put the running path "
                               "back in service."),
                work_hours=2.5, parts_used=lazy("Pilot diaphragm kit")),
        Move(175, TicketState.SIGNED_OFF, customer="Liu Jun", rating=Rating(4, 4, 3, 4)),
        *_closed(DAY + 60, lazy("Station keeper: pressure steady since the repair.")))),
    Story("pilot-again", Fault("station", "regulator_failure", {"peak_kpa": 3.1, "rate_kpa_s": 0.05}), 40, 25, 0, (
        *_visit(dispatch=8, arrive=80, resolve=170,
                dispatch_note=lazy("Same station as last week's pilot failure: check the repair."),
                arrive_note=lazy("On site. Pilot spring looks too light."),
                cause=lazy("Pilot spring set too light after last week's repair."),
                work_done=lazy("Reset the pilot spring; lock-up retested at 2.75 kPa."), work_hours=1.5),
        Move(190, TicketState.SIGNED_OFF, customer="Liu Jun", rating=Rating(3, 3, 3, 2)))),
    Story("gas-leak", Fault("station", "gas_leak", {"rate_pct_s": 0.05, "cap_pct": 26.0}), 130, 40, 1, (
        Move(1, ACKNOWLEDGE, lazy("Gas alarm seen; asked the station keeper to ventilate.")),
        Move(15, TicketState.DISPATCHED, lazy("Every technician is on another job: the first one free goes.")),
        Move(35, TicketState.ARRIVED, lazy("On site late: held up at the previous call."), from_deadline=True),
        Move(95, TicketState.RESOLVED, cause=lazy("Flange gasket of the filter housing leaking."),
             work_done=lazy("Replaced the gasket; leak test with the portable detector reads 0 %LEL."),
             work_hours=1.5, parts_used=lazy("DN100 flange gasket"), from_deadline=True),
        Move(105, TicketState.SIGNED_OFF, customer="Ma Li", rating=Rating(3, 4, 1, 3), from_deadline=True),
        *_closed(DAY, lazy("Customer unhappy with the late arrival; apologised and explained the other call.")))),
    Story("door-latch", Fault("station", "door_open"), 62, 25, 2, (
        *_visit(dispatch=5, arrive=50, resolve=65,
                dispatch_note=lazy("Station door open with nobody booked in."),
                arrive_note=lazy("Door found unlatched, nothing missing, no intrusion."),
                cause=lazy("Worn door latch: the wind blew the door open."),
                work_done=lazy("Replaced the latch; the door sensor reports closed."),
                work_hours=0.5, parts_used=lazy("Door latch")),
        Move(80, TicketState.SIGNED_OFF, customer="Gao Feng", rating=Rating(4, 4, 4, 4)),
        Move(DAY, TicketState.FOLLOWED_UP, lazy("Customer satisfied; asked for a spare key for the keeper.")))),
    Story("mains-cable", Fault("station", "mains_loss"), 3.5, 40, 3, (
        Move(2, ACKNOWLEDGE, lazy("On battery: sending someone before it runs down.")),
        Move(5, TicketState.DISPATCHED, lazy("Take the generator.")),
        Move(26, TicketState.ARRIVED, lazy("On site; supply cable damaged by road works. Generator connected.")),
        Move(35, COMMIT, lazy("The power company replaces the damaged supply cable tomorrow; the station runs on "
                              "the generator until then."), hours=20))),
    Story("router-hung", Fault("station", "comm_loss"), 110, 25, 4, (
        *_visit(dispatch=10, arrive=100, resolve=130,
                dispatch_note=lazy("Station silent: check the RTU and the router."),
                arrive_note=lazy("Station answering again before arrival; checking the router."),
                cause=lazy("4G router hung after an automatic firmware update."),
                work_done=lazy("Power-cycled the router and turned automatic updates off."), work_hours=1.0),
        Move(140, TicketState.SIGNED_OFF, customer="Ma Li", rating=Rating(4, 3, 4, 4)),
        *_closed(DAY, lazy("No further outages reported.")))),
    Story("video-cable", Fault("camera", "video_loss"), 100, 15, 0, (
        *_visit(dispatch=10, arrive=90, resolve=120,
                dispatch_note=lazy("Camera shows no picture."),
                arrive_note=lazy("Picture back intermittently when the cable is moved."),
                cause=lazy("Corroded video cable connector."),
                work_done=lazy("Re-terminated the connector; picture stable."),
                work_hours=1.0, parts_used=lazy("BNC connector")),
        Move(130, TicketState.SIGNED_OFF, customer="Gao Feng", rating=Rating(4, 4, 4, 4)),
        *_closed(DAY, lazy("Customer confirms the recordings are complete again.")))),
    Story("lens-covered", Fault("camera", "covered"), 30, 15, 1,
          _visit(dispatch=8, arrive=95, resolve=125,
                 dispatch_note=lazy("Camera picture is blank: lens covered?"),
                 arrive_note=lazy("A plastic bag caught on the camera bracket."),
                 cause=lazy("Wind-blown plastic bag over the lens."),
                 work_done=lazy("Removed it and cleaned the housing; fitted a hood."),
                 work_hours=1.0, parts_used=lazy("Camera hood"))),
    Story("recorder", Fault("camera", "storage_failure"), 9, 15, 2, (
        Move(3, ACKNOWLEDGE, lazy("Recording failure; to dispatch when a technician is free.")),)),
    Story("clock", Fault("camera", "clock_drift", {"seconds": 45.0}), 70 / 60, 20, 3),
    Story("host-mains", Fault("host", "mains_lost", restore="mains_restored"), 85, 35, 0, (
        *_visit(dispatch=6, arrive=70, resolve=100,
                dispatch_note=lazy("Alarm host on battery."),
                arrive_note=lazy("Mains back; the socket's breaker had tripped."),
                cause=lazy("Breaker tripped by a faulty heater on the same circuit."),
                work_done=lazy("Moved the alarm host to its own breaker."), work_hours=1.0),
        Move(110, TicketState.SIGNED_OFF, customer="Liu Jun", rating=Rating(4, 4, 4, 4)),
        *_closed(DAY, lazy("Customer satisfied.")))),
    Story("zone-wiring", Fault("host", "zone_fault", restore="zone_fault_restore", zone=5), 2.5, 15, 1, (
        Move(2, ACKNOWLEDGE, lazy("Zone 5 detector fault.")),
        Move(12, TicketState.DISPATCHED, lazy("Check the zone 5 detector and its wiring.")))),
)

# Who makes each move: the control room dispatches and follows up; the technician on site
# arrives, resolves, takes the sign-off and commits to a date.
DESK_MOVES = frozenset({ACKNOWLEDGE, TicketState.DISPATCHED, TicketState.FOLLOWED_UP, TicketState.CLOSED})

# (story, hours after its ticket opened, class, what the customer said)
COMPLAINTS = (
    ("gas-leak", 10.0, "quality", lazy("The technician came hours after the gas alarm.")),
    ("pilot-again", 4.0, "non_quality", lazy("Nobody told us the regulator repaired last week had failed again.")),
)
