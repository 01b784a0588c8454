"""The custodian's books: each account's cash movements and positions, from the fills the
broker reported. They are the broker's own record, kept to reconcile against the
gateway at the end of the day."""

from __future__ import annotations


class _Holding:
    __slots__ = ("start_of_day", "bought", "sold")

    def __init__(self, start_of_day: int = 0):
        self.start_of_day = start_of_day
        self.bought = 0
        self.sold = 0

    @property
    def held(self) -> int:
        return self.start_of_day + self.bought - self.sold


class CustodianBooks:
    def __init__(self) -> None:
        self._cash: dict[str, int] = {}  # net cash moved by trades and transfers, fen
        self._fees: dict[str, int] = {}
        self._holdings: dict[tuple[str, str], _Holding] = {}

    def credit(self, account: str, amount: int) -> None:
        """Money moved in (a deposit, positive) or out (a withdrawal, negative) at the custodian."""
        self._cash[account] = self._cash.get(account, 0) + amount

    def load_position(self, account: str, instrument: str, qty: int) -> None:
        """Shares held since before today (opening balances)."""
        self._holdings[(account, instrument)] = _Holding(qty)

    def record_fill(self, account: str, instrument: str, side: int, qty: int, notional: int, fees: int) -> None:
        holding = self._holdings.setdefault((account, instrument), _Holding())
        if side == 1:
            holding.bought += qty
            self._cash[account] = self._cash.get(account, 0) - notional - fees
        else:
            holding.sold += qty
            self._cash[account] = self._cash.get(account, 0) + notional - fees
        self._fees[account] = self._fees.get(account, 0) + fees

    def sellable_before_open_orders(self, account: str, instrument: str) -> int:
        """Shares held at the start of the day and not sold since (T+1)."""
        holding = self._holdings.get((account, instrument))
        return 0 if holding is None else holding.start_of_day - holding.sold

    def held(self, account: str, instrument: str) -> int:
        holding = self._holdings.get((account, instrument))
        return 0 if holding is None else holding.held

    def cash(self, account: str) -> int:
        return self._cash.get(account, 0)

    def fees(self, account: str) -> int:
        return self._fees.get(account, 0)

    def roll_day(self) -> None:
        """Today's buys become sellable tomorrow."""
        for key, holding in list(self._holdings.items()):
            holding.start_of_day, holding.bought, holding.sold = holding.held, 0, 0
            if holding.start_of_day == 0:
                del self._holdings[key]

    def statement(self) -> dict[str, dict]:
        """Per account: cash moved, fees paid, and shares held by instrument (for reconciliation)."""
        out: dict[str, dict] = {}
        for account in set(self._cash) | {a for a, _ in self._holdings}:
            out[account] = {"cash": self.cash(account), "fees": self.fees(account), "positions": {}}
        for (account, instrument), holding in sorted(self._holdings.items()):
            if holding.held:
                out[account]["positions"][instrument] = holding.held
        return out
