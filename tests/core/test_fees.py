from core import FeeSchedule, buy_reservation, commission_total, fill_fees

FEES = FeeSchedule()  # 2.5 bp commission (min 5 CNY), 5 bp stamp duty on sells, 0.1 bp transfer


def test_default_schedule_is_domain_table():
    assert (FEES.commission_ppm, FEES.commission_min, FEES.stamp_duty_ppm, FEES.transfer_ppm) == (250, 500, 500, 10)
    assert FEES.sell_rate_ppm == 760


def test_small_buy_pays_the_minimum_commission_and_transfer_fee():
    # 1,000 shares at 10.00 CNY: notional 10,000.00 CNY = 1,000,000 fen
    fees = fill_fees(False, 1_000_000, 0, 0, FEES)
    assert (fees.commission, fees.stamp_duty, fees.transfer) == (500, 0, 10)  # 2.50 CNY -> 5.00 minimum


def test_sell_adds_stamp_duty():
    fees = fill_fees(True, 1_000_000, 0, 0, FEES)
    assert (fees.commission, fees.stamp_duty, fees.transfer) == (500, 500, 10)
    assert fees.total == 1010


def test_large_fill_pays_the_rate():
    # 400,000.00 CNY: commission 100.00, stamp 200.00, transfer 4.00
    fees = fill_fees(True, 40_000_000, 0, 0, FEES)
    assert (fees.commission, fees.stamp_duty, fees.transfer) == (10_000, 20_000, 400)


def test_commission_is_per_order_across_fills():
    # Fill 1: 10,000 CNY -> owes max(5.00, 2.50) = 5.00
    f1 = fill_fees(False, 1_000_000, 0, 0, FEES)
    assert f1.commission == 500
    # Fill 2: +30,000 CNY, cumulative 40,000 -> owes 10.00 in total, pays 5.00 more
    f2 = fill_fees(False, 3_000_000, 1_000_000, 500, FEES)
    assert f2.commission == 500
    # Fill 3: +10,000 CNY, cumulative 50,000 -> owes 12.50, pays 2.50
    f3 = fill_fees(False, 1_000_000, 4_000_000, 1_000, FEES)
    assert f3.commission == 250
    assert commission_total(5_000_000, FEES) == 1_250


def test_fees_round_half_up_per_fill():
    # 1,002,000 fen x 250 ppm = 250.5 -> 251 (above the minimum once cumulative)
    assert fill_fees(False, 1_002_000, 2_000_000, 500, FEES).commission == max(500, 751) - 500
    assert fill_fees(False, 50_000, 0, 0, FEES).transfer == 1  # 0.5 fen -> 1
    assert fill_fees(False, 49_999, 0, 0, FEES).transfer == 0
    assert fill_fees(True, 1_001, 0, 0, FEES).stamp_duty == 1  # 0.5005 -> 1


def test_buy_reservation_covers_the_whole_order_at_its_limit():
    assert buy_reservation(1000, 1000, 0, 0, FEES) == 1_000_000 + 500 + 10
    # After 400 filled at 9.90: 500 commission paid already covers the rest at the limit.
    assert buy_reservation(1000, 600, 396_000, 500, FEES) == 600_000 + 0 + 6
    assert buy_reservation(1000, 0, 1_000_000, 500, FEES) == 0
    # Large order: 10,000 shares at 50.00 -> 500,000 CNY: commission 125.00, transfer 5.00
    assert buy_reservation(5000, 10_000, 0, 0, FEES) == 50_000_000 + 12_500 + 500
