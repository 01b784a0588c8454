"""The stress test's report: what a market crash does to a population of margin accounts.

`beacon stress SCENARIO` runs one scenario several times (a baseline and variants such as
"operators raise all margin lines early") and hands the results here. The report is for a
risk officer comparing those variants side by side: how many accounts went through each
margin state, how much was force-sold and at what loss, and who paid for what the clients
could not (insurance pool, backstop line, receivable). It is a Markdown file with two tables
and three PNG plots, plus the raw input as results.json so every figure can be traced back.

Money arrives as integer fen and is shown with core.units.format_cny; floats appear only in
ratios and in plot coordinates, never in a displayed amount. The same input always gives the
same Markdown, byte for byte, so reports can be diffed and committed.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the report is written on servers and in CI, without a display

import matplotlib.pyplot as plt  # noqa: E402
import orjson  # noqa: E402

from core.units import format_cny, half_up_div  # noqa: E402

DPI = 110
#: Margin states from best to worst, with fixed colours so every report reads the same way:
#: the stack goes from healthy at the bottom to defaulted at the top.
STATE_COLOURS = {
    "NORMAL": "#2ca02c",  # green
    "WARNING": "gold",
    "MARGIN_CALL": "darkorange",
    "LIQUIDATING": "#d62728",  # red
    "DEFAULTED": "black",
}
#: The shortfall waterfall after the client's own margin, in the order it is drawn on.
WATERFALL = (
    ("covered_by_pool_fen", "insurance pool", "steelblue"),
    ("covered_by_backstop_fen", "backstop line", "mediumpurple"),
    ("receivable_fen", "receivable (client owes)", "firebrick"),
)
INDEX_COLOUR = "navy"
MAX_TICKS = 8
FEN_PER_MILLION_CNY = 100 * 1_000_000

HOW_TO_READ = """\
**Margin states.** Each account is NORMAL, WARNING, MARGIN_CALL, LIQUIDATING or DEFAULTED
according to its collateral ratio against the margin lines of its tier. "Ever in" counts the
accounts that reached a state at least once during the run, so one account can be counted in
several rows.

**Liquidation loss rate.** (the shortfall of liquidation fills against the mark price + the
fees of those fills) / the liquidated notional. It is what forced selling into a falling
market costs, per yuan sold; it grows when many accounts sell the same stocks at once.

**The waterfall.** When an account's debt exceeds what its positions fetch, the gap is paid
in a fixed order: first the client's own margin, then the insurance pool, then the backstop
credit line, and whatever is left is booked as a receivable from the client (a loss unless it
is recovered). "Shortfall" is what remained after the client's margin; the three "covered by"
rows split it, with their share of it in brackets.

**Insurance coverage** is the pool divided by the total debt still outstanding at the end of
the run ("n/a" when no debt is left). **Money conserved** is the simulator's own accounting
check: "NO" means fen were created or lost somewhere and no other figure should be trusted.
"""


# ---------------------------------------------------------------- formatting


def _pct(ratio: float | None) -> str:
    """A ratio as a percentage with two decimals; None (undefined) as n/a."""
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "n/a"
    return f"{ratio * 100:.2f} %"


def _share(part_fen: int, whole_fen: int) -> str:
    """part / whole as a percentage, rounded half-up in integers (hundredths of a percent)."""
    if whole_fen <= 0:
        return "n/a"
    hundredths = half_up_div(abs(part_fen) * 10_000, whole_fen)
    sign = "-" if part_fen < 0 else ""
    return f"{sign}{hundredths // 100}.{hundredths % 100:02d} %"


def _count(n: int) -> str:
    return f"{n:,}"


def _cell(text: str) -> str:
    """Text made safe for a Markdown table cell: pipes escaped, no line breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """A Markdown table: a left-aligned label column, then right-aligned value columns."""
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|:---|" + "---:|" * (len(header) - 1),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in [label, *cells]) + " |" for label, cells in rows]
    return "\n".join(lines) + "\n"


def _variants(results: list[dict]) -> list[str]:
    return [r["variant"] for r in results]


# ---------------------------------------------------------------- tables


def _covered(summary: dict, key: str) -> str:
    amount, shortfall = summary[key], summary["shortfall_fen"]
    if shortfall <= 0:  # nothing to share out: a percentage of zero would only be noise
        return format_cny(amount)
    return f"{format_cny(amount)} ({_share(amount, shortfall)})"


def key_table(results: list[dict]) -> str:
    """The run's key figures, one column per variant, as a Markdown table."""
    s = [r["summary"] for r in results]
    rows: list[tuple[str, list[str]]] = [
        ("accounts", [_count(r["accounts"]) for r in results]),
        *[(f"ever in {state}", [_count(x["accounts_ever"].get(state, 0)) for x in s])
          for state in ("WARNING", "MARGIN_CALL", "LIQUIDATING")],
        ("defaults", [_count(x["defaults"]) for x in s]),
        ("liquidated notional (CNY)", [format_cny(x["liquidated_notional_fen"]) for x in s]),
        ("liquidation orders / fills",
         [f"{_count(x['liquidation_orders'])} / {_count(x['liquidation_fills'])}" for x in s]),
        ("liquidation loss rate", [_pct(x["liquidation_loss_rate"]) for x in s]),
        ("shortfall (CNY)", [format_cny(x["shortfall_fen"]) for x in s]),
        ("covered by insurance pool (CNY)", [_covered(x, "covered_by_pool_fen") for x in s]),
        ("covered by backstop (CNY)", [_covered(x, "covered_by_backstop_fen") for x in s]),
        ("left as receivable (CNY)", [_covered(x, "receivable_fen") for x in s]),
        ("insurance pool start → end (CNY)",
         [f"{format_cny(x['insurance_pool_start_fen'])} → {format_cny(x['insurance_pool_end_fen'])}" for x in s]),
        ("insurance coverage", [_pct(x["insurance_coverage"]) for x in s]),
        ("money conserved", ["yes" if x["money_conserved"] else "NO" for x in s]),
    ]
    return _table(["", *_variants(results)], rows)


def kpi_table(results: list[dict]) -> str:
    """The operator KPIs at the end of the run, one column per variant, as a Markdown table."""
    k = [r["summary"]["kpis"] for r in results]

    def alerts(kpis: dict) -> str:
        a = kpis["alerts_by_level"]
        return " / ".join(_count(a.get(level, 0)) for level in ("info", "warning", "critical"))

    rows: list[tuple[str, list[str]]] = [
        ("capital utilization", [_pct(x["capital_utilization"]) for x in k]),
        ("average leverage", [f"{x['average_leverage']:.2f}x" for x in k]),
        ("default rate", [_pct(x["default_rate"]) for x in k]),
        ("ARPU (CNY)", [format_cny(x["arpu_fen"]) for x in k]),
        ("liquidation loss rate", [_pct(x["liquidation_loss_rate"]) for x in k]),
        ("insurance pool (CNY)", [format_cny(x["insurance_pool_fen"]) for x in k]),
        ("insurance coverage", [_pct(x["insurance_coverage"]) for x in k]),
        ("alerts info / warning / critical", [alerts(x) for x in k]),
    ]
    return _table(["", *_variants(results)], rows)


# ---------------------------------------------------------------- plots


def _day_starts(timeline: list[dict]) -> list[tuple[int, int]]:
    """(sample index, day) of every sample that opens a new simulated day, except the first."""
    return [(i, timeline[i]["day"]) for i in range(1, len(timeline)) if timeline[i]["day"] != timeline[i - 1]["day"]]


def _time_axis(ax, timeline: list[dict]) -> None:
    """Sample-index x axis labelled with the samples' times, thinned, with day boundaries dotted."""
    n = len(timeline)
    step = max(1, math.ceil(n / MAX_TICKS))
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks, [timeline[i]["t"] for i in ticks], rotation=30, ha="right", fontsize=8)
    ax.set_xlim(0, max(n - 1, 1))
    ax.set_xlabel("simulated time (Asia/Shanghai)")
    for i, day in _day_starts(timeline):
        # Between the last sample of one day and the first of the next: the overnight gap.
        ax.axvline(i - 0.5, linestyle=":", color="grey", linewidth=1.2)
        ax.annotate(f"day {day}", xy=(i - 0.5, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="dimgrey",
                    bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "alpha": 0.7, "edgecolor": "none"})


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=12, color="dimgrey")


def _save(fig, path: Path) -> None:
    # No "Software" version stamp: the PNGs then depend on the input and matplotlib's drawing only.
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def _longest_timeline(results: list[dict]) -> list[dict]:
    """The timeline to label shared time axes with (variants are normally sampled alike)."""
    return max((r["timeline"] for r in results), key=len)


def _index_limits(results: list[dict]) -> tuple[float, float]:
    """One market-index range for every subplot, so the variants' crashes compare by eye."""
    levels = [p["market_index_bp"] / 100 for r in results for p in r["timeline"]] or [100.0]
    low, high = min(levels), max(levels)
    pad = max((high - low) * 0.08, 1.0)
    return low - pad, high + pad


def plot_states(results: list[dict], path: Path, scenario: str) -> None:
    """Stacked accounts per margin state over time, one subplot per variant, market index on top."""
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(max(7.0, 5.6 * n), 5.0), sharey=True, squeeze=False,
                             layout="constrained")
    index_limits = _index_limits(results)
    handles: list = []
    for col, (ax, result) in enumerate(zip(axes[0], results)):
        timeline = result["timeline"]
        ax.set_title(textwrap.fill(result["variant"], 48), fontsize=10)
        if col == 0:
            ax.set_ylabel("accounts")
        if not timeline:
            _no_data(ax, "no samples")
            continue
        x = range(len(timeline))
        stacks = [[p["states"].get(state, 0) for p in timeline] for state in STATE_COLOURS]
        areas = ax.stackplot(x, *stacks, labels=list(STATE_COLOURS), colors=list(STATE_COLOURS.values()),
                             alpha=0.85, linewidth=0)
        ax.set_ylim(0, max(result["accounts"], 1))
        _time_axis(ax, timeline)
        twin = ax.twinx()
        (line,) = twin.plot(x, [p["market_index_bp"] / 100 for p in timeline], color=INDEX_COLOUR,
                            linewidth=1.8, label="market index (% of start, right axis)")
        twin.set_ylim(*index_limits)
        if col == n - 1:
            twin.set_ylabel("market index (% of start)")
        else:  # the range is shared: one scale, on the rightmost subplot, is enough
            twin.tick_params(right=False, labelright=False)
        handles = [*areas, line]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
    fig.suptitle(f"{scenario}: accounts by margin state, and the market")
    _save(fig, path)


def plot_liquidation(results: list[dict], path: Path, scenario: str) -> None:
    """Cumulative liquidated notional over time, one line per variant."""
    fig, ax = plt.subplots(figsize=(9.0, 5.0), layout="constrained")
    timeline = _longest_timeline(results)
    if not timeline:
        _no_data(ax, "no samples")
    highest = 0.0
    for result in results:
        points = result["timeline"]
        if not points:
            continue
        y = [p["liquidated_notional_fen"] / FEN_PER_MILLION_CNY for p in points]
        highest = max(highest, *y)
        (line,) = ax.plot(range(len(points)), y, linewidth=2, label=textwrap.shorten(result["variant"], 60))
        # The end value in words: the number a reader looks for first.
        ax.annotate(f"{format_cny(points[-1]['liquidated_notional_fen'])} CNY", xy=(len(points) - 1, y[-1]),
                    xytext=(-4, 6), textcoords="offset points", ha="right", fontsize=8, color=line.get_color())
    if timeline:
        _time_axis(ax, timeline)
        ax.legend(loc="upper left", fontsize=9)
    if highest > 0:
        ax.set_ylim(0, highest * 1.1)  # headroom for the end-value labels
    else:
        ax.set_ylim(bottom=0)
    ax.set_ylabel("liquidated notional, cumulative (CNY millions)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{scenario}: forced selling")
    _save(fig, path)


def _money_unit(max_fen: int) -> tuple[int, str]:
    """A divisor (fen) and unit that keep the waterfall's axis numbers short."""
    for divisor, unit in ((FEN_PER_MILLION_CNY, "CNY millions"), (100 * 1000, "CNY thousands")):
        if max_fen >= divisor:
            return divisor, unit
    return 100, "CNY"


def plot_waterfall(results: list[dict], path: Path, scenario: str) -> None:
    """Per variant, the shortfall as a stacked bar split into pool / backstop / receivable."""
    summaries = [r["summary"] for r in results]
    fig, ax = plt.subplots(figsize=(max(6.0, 2.6 * len(results) + 2.5), 5.0), layout="constrained")
    x = list(range(len(results)))
    top = max(max(s["shortfall_fen"], sum(s[k] for k, _, _ in WATERFALL)) for s in summaries)
    divisor, unit = _money_unit(top)
    bottoms = [0.0] * len(results)
    for key, label, colour in WATERFALL:
        heights = [s[key] / divisor for s in summaries]
        ax.bar(x, heights, bottom=bottoms, width=0.55, color=colour, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for i, s in enumerate(summaries):
        ax.annotate(f"{format_cny(s['shortfall_fen'])} CNY", xy=(i, bottoms[i]), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontsize=9, fontweight="bold")
    ax.set_xticks(x, [textwrap.fill(v, 22) for v in _variants(results)], fontsize=9)
    ax.set_xlim(-0.7, len(results) - 0.3)
    if top <= 0:
        ax.set_ylim(0, 1)
        ax.set_yticks([0])  # a scale for nothing would only suggest amounts that are not there
        _no_data(ax, "no shortfall")
    else:
        ax.set_ylim(0, top / divisor * 1.15)  # headroom for the total labels
    ax.set_ylabel(f"shortfall after client margin ({unit})")
    ax.legend(loc="upper right", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{scenario}: who paid the shortfall")
    _save(fig, path)


# ---------------------------------------------------------------- markdown


def _population(results: list[dict]) -> str:
    """Accounts per tier and the seed; one table if the variants share a population (they should)."""
    def block(result: dict) -> str:
        tiers = result.get("tiers") or {}
        rows = [(tier, [_count(n)]) for tier, n in tiers.items()]
        rows.append(("total", [_count(result["accounts"])]))
        return _table(["tier", "accounts"], rows) + f"\nSeed: {result.get('seed', 'n/a')}.\n"

    key = [(r["accounts"], r.get("tiers"), r.get("seed")) for r in results]
    if all(k == key[0] for k in key):
        return block(results[0])
    # Different populations make the comparison unfair: show each so the reader sees it.
    return "\n".join(f"**{r['variant']}**\n\n{block(r)}" for r in results)


def _description(text: str) -> str:
    lines = text.strip().splitlines() or ["(no description)"]
    return "\n".join(f"> {line}".rstrip() for line in lines) + "\n"


def _checks(results: list[dict]) -> str:
    """Warnings a reader must not miss, for inconsistencies the tables alone would hide."""
    notes = []
    for r in results:
        s = r["summary"]
        if not s["money_conserved"]:
            notes.append(f"**{r['variant']}: money was NOT conserved** - the simulator's accounting check "
                         "failed; treat every figure of this variant as suspect.")
        split = sum(s[k] for k, _, _ in WATERFALL)
        if split != s["shortfall_fen"]:
            notes.append(f"**{r['variant']}**: pool + backstop + receivable = {format_cny(split)} CNY, "
                         f"but the shortfall is {format_cny(s['shortfall_fen'])} CNY.")
    return "".join(f"- {note}\n" for note in notes)


def _runs(results: list[dict]) -> str:
    return "".join(f"- {r['variant']}: {_count(r['summary']['commands'])} engine commands, "
                   f"{r['summary']['wall_seconds']:.1f} s wall time\n" for r in results)


def markdown(results: list[dict], title: str | None = None) -> str:
    """The report's Markdown text, with the plots linked by their file names."""
    first = results[0]
    scenario = first["scenario"]
    days = first.get("days") or []
    parts = [
        f"# {title or f'Stress test: {scenario}'}\n",
        f"Scenario **{scenario}**, {len(days)} simulated trading day(s)"
        + (f" ({', '.join(days)})" if days else "")
        + f"; variants compared: {' vs '.join(_variants(results))}.\n",
        _description(first.get("description", "")),
    ]
    checks = _checks(results)
    if checks:
        parts.append("## Warnings\n\n" + checks)
    parts += [
        "## Population\n\n" + _population(results),
        "## Key figures\n\n" + key_table(results),
        "## KPIs at the end of the run\n\n" + kpi_table(results),
        "## Accounts by margin state\n\n![Accounts by margin state over time, per variant](states.png)\n",
        "## Forced selling\n\n![Cumulative liquidated notional over time](liquidation.png)\n",
        "## Who paid the shortfall\n\n![Shortfall split into insurance pool, backstop and receivable]"
        "(waterfall.png)\n",
        "## How to read this\n\n" + HOW_TO_READ,
        "## Runs\n\n" + _runs(results),
    ]
    return "\n".join(parts)


def render(results: list[dict], out_dir: Path, title: str | None = None) -> Path:
    """Write report.md, states.png, liquidation.png, waterfall.png and results.json; return report.md."""
    if not results:
        raise ValueError("render needs at least one result")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenario = results[0]["scenario"]
    (out_dir / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    plot_states(results, out_dir / "states.png", scenario)
    plot_liquidation(results, out_dir / "liquidation.png", scenario)
    plot_waterfall(results, out_dir / "waterfall.png", scenario)
    path = out_dir / "report.md"
    path.write_text(markdown(results, title), encoding="utf-8")
    return path
