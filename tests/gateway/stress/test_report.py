"""The stress report: files written, figures formatted for a reader, output deterministic."""

from __future__ import annotations

import orjson
import pytest

from gateway.stress.report import key_table, kpi_table, render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("states.png", "liquidation.png", "waterfall.png")
RAISED = "lines raised +1000 bp at day 1 09:45"


def timeline(samples_per_day: int = 18, accounts: int = 3000, severity: int = 1) -> list[dict]:
    """A two-day crash: the index falls on day 1 and partly recovers on day 2; accounts degrade with it."""
    points = []
    liquidated = 0
    for day, date in ((1, "2026-06-22"), (2, "2026-06-23")):
        for i in range(samples_per_day):
            k = (day - 1) * samples_per_day + i
            drop = min(k, 20) * 40 - max(0, k - 20) * 10  # bp below the start
            warning, call = 10 * k * severity, 5 * k * severity
            liquidating, defaulted = 2 * k * severity, k // 6 * severity
            liquidated += 1_000_000_00 * liquidating  # fen, cumulative
            points.append({
                "t": f"{date} {9 + (30 + 12 * i) // 60:02d}:{(30 + 12 * i) % 60:02d}", "day": day,
                "states": {"NORMAL": accounts - warning - call - liquidating - defaulted, "WARNING": warning,
                           "MARGIN_CALL": call, "LIQUIDATING": liquidating, "DEFAULTED": defaulted},
                "liquidated_notional_fen": liquidated,
                "insurance_pool_fen": 5_000_000_000 - 1_000_000 * k, "backstop_drawn_fen": 0,
                "receivables_fen": 0, "market_index_bp": 10_000 - drop,
            })
    return points


def result(variant: str = "baseline", *, shortfall: int = 123_456_789, pool: int = 74_074_073,
           backstop: int = 37_037_037, receivable: int = 12_345_679, coverage: float | None = 0.0873,
           conserved: bool = True, severity: int = 1) -> dict:
    points = timeline(severity=severity)
    return {
        "scenario": "cascade",
        "description": "A sharp gap down at the open of day 1,\nthen a slow grind lower.\n\nDay 2 recovers.",
        "variant": variant, "accounts": 3000,
        "tiers": {"conservative": 1000, "standard": 1000, "aggressive": 1000}, "seed": 7,
        "days": ["2026-06-22", "2026-06-23"], "timeline": points,
        "summary": {
            "liquidated_notional_fen": points[-1]["liquidated_notional_fen"],
            "liquidation_orders": 1234, "liquidation_fills": 1200, "liquidation_loss_rate": 0.0123,
            "accounts_ever": {"WARNING": 900, "MARGIN_CALL": 400, "LIQUIDATING": 150, "DEFAULTED": 12},
            "defaults": 12, "shortfall_fen": shortfall, "covered_by_pool_fen": pool,
            "covered_by_backstop_fen": backstop, "receivable_fen": receivable,
            "insurance_pool_start_fen": 5_000_000_000, "insurance_pool_end_fen": 5_000_000_000 - pool,
            "insurance_coverage": coverage,
            "kpis": {"capital_utilization": 0.6543, "average_leverage": 1.8456, "default_rate": 0.004,
                     "arpu_fen": 12_345, "liquidation_loss_rate": 0.0123, "insurance_pool_fen": 4_925_925_927,
                     "insurance_coverage": coverage,
                     "alerts_by_level": {"info": 1500, "warning": 40, "critical": 3}},
            "money_conserved": conserved, "commands": 250_000, "wall_seconds": 12.345,
        },
    }


def two_variants() -> list[dict]:
    raised = result(RAISED, shortfall=0, pool=0, backstop=0, receivable=0, coverage=None, conserved=False,
                    severity=0)
    return [result(), raised]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One two-variant render shared by the tests that only read its output (rendering takes a moment)."""
    out = tmp_path_factory.mktemp("report")
    results = two_variants()
    path = render(results, out, title="Cascade, two variants")
    return results, out, path, path.read_text(encoding="utf-8")


def test_render_writes_the_report_plots_and_input(report):
    results, out, path, _ = report
    assert path == out / "report.md" and path.is_file()
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5_000, name
    assert orjson.loads((out / "results.json").read_bytes()) == results


def test_markdown_embeds_plots_and_explains_itself(report):
    *_, md = report
    assert md.startswith("# Cascade, two variants\n")
    assert "**cascade**" in md and "> then a slow grind lower." in md
    for name in PLOTS:
        assert f"]({name})" in md
    assert "## How to read this" in md and "backstop" in md and "receivable" in md
    assert "| conservative | 1,000 |" in md and "Seed: 7." in md


def test_key_table_has_a_column_per_variant_and_formatted_figures(report):
    *_, md = report
    table = key_table(two_variants())
    assert table in md
    header, alignment, *rows = table.splitlines()
    assert header == f"|  | baseline | {RAISED} |"
    assert alignment == "|:---|---:|---:|"  # numbers right-aligned
    by_label = {row.split(" | ")[0].lstrip("| "): row for row in rows}
    assert "| 1,234,567.89 | 0.00 |" in by_label["shortfall (CNY)"]
    assert "740,740.73 (60.00 %)" in by_label["covered by insurance pool (CNY)"]
    assert "370,370.37 (30.00 %)" in by_label["covered by backstop (CNY)"]
    assert "123,456.79 (10.00 %)" in by_label["left as receivable (CNY)"]
    assert "1.23 %" in by_label["liquidation loss rate"]
    assert "| 8.73 % | n/a |" in by_label["insurance coverage"]
    assert "| yes | NO |" in by_label["money conserved"]
    assert "| 1,234 / 1,200 |" in by_label["liquidation orders / fills"]
    assert "50,000,000.00 → 49,259,259.27" in by_label["insurance pool start → end (CNY)"]
    # A variant that failed its accounting check is called out above the tables too.
    assert "## Warnings" in md and f"{RAISED}: money was NOT conserved" in md


def test_kpi_table():
    table = kpi_table(two_variants())
    assert "| capital utilization | 65.43 % | 65.43 % |" in table
    assert "| average leverage | 1.85x |" in table
    assert "| ARPU (CNY) | 123.45 |" in table
    assert "| alerts info / warning / critical | 1,500 / 40 / 3 |" in table
    assert "| insurance coverage | 8.73 % | n/a |" in table


def test_a_single_variant(tmp_path):
    path = render([result()], tmp_path)
    md = path.read_text(encoding="utf-8")
    assert md.startswith("# Stress test: cascade\n")
    assert "|  | baseline |" in md and "## Warnings" not in md
    assert all((tmp_path / name).read_bytes().startswith(PNG_MAGIC) for name in PLOTS)


def test_no_shortfall_anywhere(tmp_path):
    quiet = result(shortfall=0, pool=0, backstop=0, receivable=0, coverage=None, severity=0)
    path = render([quiet], tmp_path)
    md = path.read_text(encoding="utf-8")
    assert "| shortfall (CNY) | 0.00 |" in md
    assert "| covered by insurance pool (CNY) | 0.00 |" in md  # no share of a zero shortfall
    data = (tmp_path / "waterfall.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_a_split_that_does_not_add_up_is_flagged():
    from gateway.stress.report import markdown

    md = markdown([result(receivable=0)])
    assert "pool + backstop + receivable = 1,111,111.10 CNY, but the shortfall is 1,234,567.89 CNY" in md


def test_negative_amounts_keep_their_sign():
    r = result()
    r["summary"]["insurance_pool_end_fen"] = -123_456
    assert "→ -1,234.56 |" in key_table([r])


def test_same_input_same_markdown(tmp_path, report):
    _, _, _, md = report
    again = render(two_variants(), tmp_path / "again", title="Cascade, two variants")
    assert again.read_bytes() == md.encode("utf-8")
