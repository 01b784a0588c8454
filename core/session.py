"""Trading sessions in Asia/Shanghai time, computed from an input timestamp (never the clock)."""

from __future__ import annotations

NS_PER_S = 1_000_000_000
SHANGHAI_UTC_OFFSET_S = 8 * 3600  # China has no daylight saving time
SECONDS_PER_DAY = 86_400

#: [start, end) in seconds after local midnight: opening call auction, morning and
#: afternoon continuous trading; the afternoon interval runs on into the closing call
#: auction (14:57-15:00), so one interval covers both.
SESSIONS = (
    (9 * 3600 + 15 * 60, 9 * 3600 + 25 * 60),
    (9 * 3600 + 30 * 60, 11 * 3600 + 30 * 60),
    (13 * 3600, 15 * 3600),
)


def local_seconds(now_ns: int) -> int:
    """Seconds since Shanghai midnight for a UTC timestamp in nanoseconds since the epoch."""
    return (now_ns // NS_PER_S + SHANGHAI_UTC_OFFSET_S) % SECONDS_PER_DAY


def local_hhmmss(now_ns: int) -> int:
    """Shanghai wall time as the integer HHMMSS, for reject details."""
    s = local_seconds(now_ns)
    return (s // 3600) * 10000 + (s // 60 % 60) * 100 + s % 60


def session_open(now_ns: int) -> bool:
    """Whether orders are accepted at now_ns (each interval includes its start, excludes its end)."""
    s = local_seconds(now_ns)
    return any(start <= s < end for start, end in SESSIONS)


def shanghai_ns(year: int, month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0) -> int:
    """UTC nanoseconds of a Shanghai wall-clock time; a convenience for tests and tools."""
    import datetime as _dt

    local = _dt.datetime(year, month, day, hour, minute, second, tzinfo=_dt.timezone(_dt.timedelta(hours=8)))
    return int(local.timestamp()) * NS_PER_S


EPOCH_ORDINAL = 719_163  # datetime.date(1970, 1, 1).toordinal()


def next_weekday(day: int) -> int:
    """The first weekday after `day` (a date ordinal): the next trading day as far as the engine can
    tell before the day roll says (holidays are the market's calendar, not the engine's)."""
    weekday = (day - 1) % 7  # date.fromordinal(1) was a Monday
    return day + (3 if weekday == 4 else 2 if weekday == 5 else 1)


def day_time_ns(day: int, seconds_after_midnight: int) -> int:
    """UTC nanoseconds of a Shanghai wall-clock time on trading day `day` (a date ordinal)."""
    return ((day - EPOCH_ORDINAL) * SECONDS_PER_DAY + seconds_after_midnight - SHANGHAI_UTC_OFFSET_S) * NS_PER_S
