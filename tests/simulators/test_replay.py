import pytest

from simulators.market.messages import DayClose, DayOpen, Tick
from simulators.market.replay import replay_bars, replay_ticks


def test_daily_bars_become_the_simulators_messages(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("date,code,open,high,low,close,volume,prev_close\n"
                    "2015-06-26,601318,76.80,77.50,69.12,69.12,212345600,76.80\n"
                    "2015-06-29,601318,68.00,70.10,62.21,64.50,312345600,\n")
    messages = list(replay_bars(path))
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["DayOpen", "Tick", "Tick", "Tick", "Tick", "DayClose"] * 2
    day1 = [m for m in messages[:6] if isinstance(m, Tick)]
    assert [t.last for t in day1] == [7680, 7750, 6912, 6912]  # open, high (nearer), low, close
    # 69.12 is 76.80 limit-down (69.12) and the low: a limit-down lock at the close
    assert day1[-1].lock == -1 and day1[-1].bid == 0 and day1[-1].bid_size == 0
    assert sum(t.volume for t in day1) == 212345600 // 4 // 100 * 100 * 4
    day2 = [m for m in messages[6:] if isinstance(m, Tick)]
    assert [t.last for t in day2] == [6800, 7010, 6221, 6450] and day2[-1].lock == 0  # previous close 69.12


def test_tick_csv_round_trip(tmp_path):
    path = tmp_path / "ticks.csv"
    path.write_text("ts,code,last,volume,bid,bid_size,ask,ask_size,lock\n"
                    "2026-01-05T09:30:03+08:00,600036,43.36,12300,43.35,5200,43.37,8100,0\n"
                    "2026-01-05T09:30:06+08:00,600036,39.02,0,0,0,39.02,900000,-1\n"
                    "2026-01-06T09:30:03+08:00,600036,39.50,100,39.49,100,39.51,100,0\n")
    messages = list(replay_ticks(path))
    assert [type(m) for m in messages] == [DayOpen, Tick, Tick, DayClose, DayOpen, Tick, DayClose]
    assert messages[2] == Tick(messages[2].ts, "600036", 3902, 0, 0, 0, 3902, 900000, -1)


def test_bad_csv_is_refused_with_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("date,code,open,high,low,close,volume\n2015-06-26,601318,76.80,70.00,69.12,69.12,100\n")
    with pytest.raises(ValueError, match=":2: need low <= open, close <= high"):
        list(replay_bars(path))
    path.write_text("date,code,open,high\n")
    with pytest.raises(ValueError, match="missing column"):
        list(replay_bars(path))
    path.write_text("ts,code,last,volume,bid,bid_size,ask,ask_size\nyesterday,600036,1,1,1,1,1,1\n")
    with pytest.raises(ValueError, match="neither ISO 8601"):
        list(replay_ticks(path))
