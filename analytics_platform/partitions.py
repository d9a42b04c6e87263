"""The one home of time: the four partition definitions, all in REPORTING_TIMEZONE.

Weeks start on Monday (`day_offset=1`) to match PostgreSQL's `date_trunc('week')`;
Dagster's default (0) would start them on Sunday. Nothing else in the code constructs a
partitions definition.
"""

from __future__ import annotations

from dagster import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

from analytics_platform.settings import load_settings

_settings = load_settings()
START_DATE = _settings.start_date
TIMEZONE = _settings.reporting_timezone

hourly_partitions = HourlyPartitionsDefinition(
    start_date=f"{START_DATE.isoformat()}-00:00", timezone=TIMEZONE
)
# Raw tables also have the still-open current hour: ingestion reports rows landing in it.
raw_hourly_partitions = HourlyPartitionsDefinition(
    start_date=f"{START_DATE.isoformat()}-00:00", timezone=TIMEZONE, end_offset=1
)
daily_partitions = DailyPartitionsDefinition(start_date=START_DATE.isoformat(), timezone=TIMEZONE)
weekly_partitions = WeeklyPartitionsDefinition(
    start_date=START_DATE.isoformat(), timezone=TIMEZONE, day_offset=1
)
monthly_partitions = MonthlyPartitionsDefinition(
    start_date=START_DATE.isoformat(), timezone=TIMEZONE
)
# The cold archive's months are UTC months whatever the reporting zone: raw partitions and
# TimescaleDB chunks are cut on UTC days, so a UTC month is whole partitions that retention
# can drop exactly (analytics_platform/archive/store.py).
archive_monthly_partitions = MonthlyPartitionsDefinition(
    start_date=START_DATE.isoformat(), timezone="UTC"
)
