"""A report month: its bounds in the reporting zone and the month before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


class InvalidMonth(ValueError):
    """A month string that is not YYYY-MM."""


@dataclass(frozen=True)
class ReportMonth:
    first_day: date
    timezone: str

    @classmethod
    def parse(cls, text: str, timezone: str) -> ReportMonth:
        try:
            year, month = (int(part) for part in text.split("-"))
            return cls(date(year, month, 1), timezone)
        except ValueError as error:
            raise InvalidMonth(f"month {text!r} is not YYYY-MM (e.g. 2026-02)") from error

    @property
    def label(self) -> str:
        return self.first_day.strftime("%Y-%m")

    @property
    def next_first_day(self) -> date:
        return (self.first_day + timedelta(days=32)).replace(day=1)

    @property
    def previous_first_day(self) -> date:
        return (self.first_day - timedelta(days=1)).replace(day=1)

    @property
    def last_day(self) -> date:
        return self.next_first_day - timedelta(days=1)

    def _midnight(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(self.timezone))

    @property
    def start(self) -> datetime:
        return self._midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return self._midnight(self.next_first_day)

    @property
    def previous_start(self) -> datetime:
        return self._midnight(self.previous_first_day)

    def params(self, merchant_id: str | None) -> dict[str, object]:
        """The parameters of the sql/reports/ queries."""
        return {
            "month_start": self.start,
            "month_end": self.end,
            "previous_start": self.previous_start,
            "last_day": self.last_day,
            "tz": self.timezone,
            "merchant": merchant_id or "",
        }
