"""`scheduler`: residency schedule generation with duty-hour rules and a validation pass.

Each resident rotates through a service block per week (wards, ICU, emergency, nights, clinic,
research), each with its own shift length and working days. Shifts are placed day by day under two
duty-hour rules: at most 80 hours in a week, and one day off in every seven (no seventh day in a
row). A validation pass then re-checks every assignment against both rules and against double
booking.

The naive variant keeps the assignments in one list (`Ledger`), and every rule check rescans all of
them to find one resident's shifts in a window: checks × assignments, quadratic in residents ×
weeks, which makes `Ledger.shifts_in_window` the hotspot. `variant=fast` (`IndexedLedger`) keeps an
index per resident and day, so a check reads only the days of its window.

Both ledgers count the assignment records their lookups examine (`operations`), so the growth can
be checked by counting rather than timing. The body returns it among its target metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from profwork.targets import Metrics, target

WEEKLY_HOURS_CAP = 80
MAX_DAYS_IN_A_ROW = 6  # one day off in seven


@dataclass(frozen=True)
class Rotation:
    name: str
    shift_hours: int
    weekdays: tuple[int, ...]  # 0 = Monday


ROTATIONS = (
    Rotation("wards", 12, (0, 1, 2, 3, 4, 5)),
    Rotation("icu", 14, (0, 1, 2, 3, 4, 5, 6)),  # 98 h asked: the weekly cap trims it
    Rotation("emergency", 10, (0, 1, 2, 3, 4, 5, 6)),  # seven days: the day-off rule trims it
    Rotation("nights", 12, (0, 1, 2, 3, 4, 5, 6)),
    Rotation("clinic", 9, (0, 1, 2, 3, 4)),
    Rotation("research", 8, (0, 1, 2, 3, 4)),
)


@dataclass(frozen=True, slots=True)
class Assignment:
    resident: int
    day: int  # days since the start of the schedule
    rotation: str
    hours: int


class Assignments(Protocol):
    """Where assignments are kept, and how a resident's shifts in a window are found."""

    operations: int

    def add(self, assignment: Assignment) -> None: ...

    def shifts_in_window(self, resident: int, first_day: int, last_day: int) -> list[Assignment]:
        """The resident's assignments on days `first_day`..`last_day`, inclusive."""
        ...

    def __iter__(self) -> Iterator[Assignment]: ...


@dataclass
class Ledger:
    """The naive store: one list, rescanned in full for every lookup."""

    assignments: list[Assignment] = field(default_factory=list)
    operations: int = 0

    def add(self, assignment: Assignment) -> None:
        self.assignments.append(assignment)

    def shifts_in_window(self, resident: int, first_day: int, last_day: int) -> list[Assignment]:
        self.operations += len(self.assignments)
        found = []
        for a in self.assignments:  # every assignment, for every check: the quadratic hotspot
            if a.resident == resident and first_day <= a.day <= last_day:
                found.append(a)  # noqa: PERF401 - the loop is the point
        return found

    def __iter__(self) -> Iterator[Assignment]:
        return iter(self.assignments)


@dataclass
class IndexedLedger:
    """The fixed store: assignments indexed by resident and day."""

    by_resident: dict[int, dict[int, list[Assignment]]] = field(default_factory=dict)
    operations: int = 0

    def add(self, assignment: Assignment) -> None:
        days = self.by_resident.setdefault(assignment.resident, {})
        days.setdefault(assignment.day, []).append(assignment)

    def shifts_in_window(self, resident: int, first_day: int, last_day: int) -> list[Assignment]:
        days = self.by_resident.get(resident, {})
        found: list[Assignment] = []
        for day in range(first_day, last_day + 1):
            self.operations += 1
            found.extend(days.get(day, ()))
        return found

    def __iter__(self) -> Iterator[Assignment]:
        for days in self.by_resident.values():
            for shifts in days.values():
                yield from shifts


def rotation_for(resident: int, week: int) -> Rotation:
    """Residents move to the next service block every week, staggered so all are covered."""
    return ROTATIONS[(resident + week) % len(ROTATIONS)]


def week_hours(ledger: Assignments, resident: int, day: int) -> int:
    week_start = day - day % 7
    return sum(a.hours for a in ledger.shifts_in_window(resident, week_start, week_start + 6))


def days_worked_before(ledger: Assignments, resident: int, day: int) -> int:
    """Days in a row the resident worked right before `day`."""
    worked = {a.day for a in ledger.shifts_in_window(resident, day - MAX_DAYS_IN_A_ROW, day - 1)}
    streak = 0
    while day - streak - 1 in worked:
        streak += 1
    return streak


def may_work(ledger: Assignments, resident: int, day: int, hours: int) -> bool:
    """Both duty-hour rules, for one more shift of `hours` on `day`."""
    if week_hours(ledger, resident, day) + hours > WEEKLY_HOURS_CAP:
        return False
    return days_worked_before(ledger, resident, day) < MAX_DAYS_IN_A_ROW


def generate(ledger: Assignments, residents: int, weeks: int) -> Assignments:
    """Place each resident's rotation shifts day by day, skipping those the rules forbid."""
    for day in range(weeks * 7):
        for resident in range(residents):
            rotation = rotation_for(resident, day // 7)
            if day % 7 in rotation.weekdays and may_work(
                ledger, resident, day, rotation.shift_hours
            ):
                ledger.add(Assignment(resident, day, rotation.name, rotation.shift_hours))
    return ledger


def validate(ledger: Assignments) -> list[str]:
    """Every assignment re-checked against the rules; the violations found (none, when the
    generator is right)."""
    violations = []
    for a in ledger:
        if week_hours(ledger, a.resident, a.day) > WEEKLY_HOURS_CAP:
            violations.append(
                f"resident {a.resident}: over {WEEKLY_HOURS_CAP} h in week {a.day // 7}"
            )
        if days_worked_before(ledger, a.resident, a.day) >= MAX_DAYS_IN_A_ROW:
            violations.append(f"resident {a.resident}: no day off in seven up to day {a.day}")
        if len(ledger.shifts_in_window(a.resident, a.day, a.day)) > 1:
            violations.append(f"resident {a.resident}: double-booked on day {a.day}")
    return violations


@dataclass(frozen=True)
class Schedule:
    assignments: int
    violations: list[str]
    operations: int


def build_schedule(
    residents: int, weeks: int, variant: Literal["naive", "fast"] = "naive"
) -> Schedule:
    """Generate and validate one schedule."""
    ledger: Assignments = Ledger() if variant == "naive" else IndexedLedger()
    generate(ledger, residents, weeks)
    violations = validate(ledger)
    return Schedule(sum(1 for _ in ledger), violations, ledger.operations)


def body(
    residents: int = 50,
    weeks: int = 4,
    rounds: int = 12,
    variant: Literal["naive", "fast"] = "naive",
) -> Metrics:
    """Generate and validate the schedule `rounds` times."""
    schedule = Schedule(0, [], 0)
    for _ in range(rounds):
        schedule = build_schedule(residents, weeks, variant)
    if schedule.violations:
        raise RuntimeError(f"the generated schedule breaks the rules: {schedule.violations[0]}")
    return Metrics(
        {
            "schedule": {
                "assignments": schedule.assignments,
                "records examined": schedule.operations,
            }
        }
    )


TARGET = target(
    "scheduler",
    description="Residency schedule (rotations, 80-h cap, day off in seven) with a quadratic "
    "validation scan (variant=fast indexes it)",
    sizes={
        "small": {"residents": 10, "weeks": 2},
        "medium": {"residents": 25, "weeks": 4},
        "large": {"residents": 50, "weeks": 4},
    },
)(body)
