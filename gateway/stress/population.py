"""A seeded population of margin accounts: tiers, deposits and leveraged portfolios.

Each account gets a tier (in turn), a deposit (log-normal around 500,000 CNY, between
100,000 and 5,000,000), a target leverage drawn between 1.2x and 95 % of its tier's L_max
(skewed towards the top: leverage is why people open these accounts), and two to six
marginable names weighted at random, no name above 90 % of its tier's single-name cap.
Quantities are whole lots at the previous close. A share of the accounts can be made to hold
only the names a scenario hits, its lead name as their largest position. The same seed
gives the same population.
"""

from __future__ import annotations

import math
import random

import msgspec

from core.instruments import BOARD_LOT, STAR_MIN_QTY, Board, Instrument
from core.tiers import Tier
from core.units import BP


class Holding(msgspec.Struct, frozen=True):
    code: str
    qty: int


class AccountPlan(msgspec.Struct, frozen=True):
    tier: str
    deposit: int  # fen
    leverage_bp: int  # the target exposure / deposit
    holdings: tuple[Holding, ...]


def _lot(instrument: Instrument, qty: int) -> int:
    if instrument.board == Board.STAR:
        return qty if qty >= STAR_MIN_QTY else 0
    return qty // BOARD_LOT * BOARD_LOT


def population(count: int, seed: int, instruments: list[Instrument], tiers: list[Tier],
               focus: list[str] = (), focus_share: float = 0.0) -> list[AccountPlan]:
    """`focus`: the names a scenario hits, the first of them its lead (a heavyweight); a share of
    the accounts hold only focus names, the lead as their largest position. A stress test is
    about the book the scenario hits."""
    rng = random.Random(seed)
    eligible = [i for i in instruments if i.marginable and not i.no_limit and not i.halted and not i.st
                and i.prev_close > 0]
    if len(eligible) < 6:
        raise ValueError("the population needs at least six marginable instruments")
    weights = [math.sqrt(max(i.adv_shares, 1) * i.prev_close) for i in eligible]  # liquid names more often
    plans = []
    for n in range(count):
        tier = tiers[n % len(tiers)]
        deposit = int(min(5_000_000, max(100_000, rng.lognormvariate(math.log(500_000), 0.7)))) * 100
        top = tier.max_leverage_bp * 95 // 100
        leverage = 12_000 + int((top - 12_000) * (1 - rng.random() ** 2))
        cap = tier.max_single_name_bp * 9 // 10
        names_needed = max(2, -(-BP // cap))
        k = rng.randint(names_needed, max(names_needed, 6))
        chosen: list[Instrument] = []
        pool, pool_weights = eligible, weights
        focused = [n for n, i in enumerate(eligible) if i.code in focus]
        if len(focused) >= k and rng.random() < focus_share:  # a book in the names the scenario hits
            pool = [eligible[n] for n in focused]
            pool_weights = [weights[n] for n in focused]
            leads = [i for i in pool if i.code == focus[0]]
            chosen += leads[:1]
        while len(chosen) < k:
            pick = rng.choices(pool, pool_weights)[0]
            if pick not in chosen:
                chosen.append(pick)
        raw = [rng.uniform(0.5, 1.5) for _ in chosen]
        if focus and chosen[0].code == focus[0]:
            raw[0] = 10.0  # the lead is the largest holding, up to the cap
        shares = _capped_weights(raw, cap / BP)
        exposure = deposit * leverage // BP
        holdings = []
        for instrument, share in zip(chosen, shares):
            qty = _lot(instrument, int(exposure * share) // instrument.prev_close)
            if qty > 0:
                holdings.append(Holding(instrument.code, qty))
        plans.append(AccountPlan(tier.name, deposit, leverage, tuple(holdings)))
    return plans


def _capped_weights(raw: list[float], cap: float) -> list[float]:
    """Normalise weights to sum to 1 with none above cap (the excess spread over the others)."""
    weights = [w / sum(raw) for w in raw]
    for _ in range(len(weights)):
        over = [w > cap for w in weights]
        if not any(over):
            break
        excess = sum(w - cap for w in weights if w > cap)
        free = sum(w for w, o in zip(weights, over) if not o)
        weights = [cap if o else w + excess * w / free for w, o in zip(weights, over)]
    return weights
