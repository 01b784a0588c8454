import pytest

from core import DEFAULT_TIERS, load_tiers


def test_default_tiers_are_the_domain_table():
    rows = [(t.name, t.max_leverage_bp, t.annual_rate_bp, t.warning_bp, t.margin_call_bp, t.liquidation_bp,
             t.restore_bp, t.max_single_name_bp, t.max_order_notional) for t in DEFAULT_TIERS]
    assert rows == [
        ("conservative", 20_000, 600, 15_000, 14_000, 13_000, 15_500, 10_000, 500_000_000),
        ("standard", 30_000, 800, 13_000, 12_500, 12_000, 13_500, 6_000, 300_000_000),
        ("aggressive", 40_000, 1_000, 12_000, 11_500, 11_000, 12_500, 4_000, 200_000_000),
    ]
    for t in DEFAULT_TIERS:
        t.validate(200)


def test_tiers_load_from_toml(tmp_path):
    path = tmp_path / "tiers.toml"
    path.write_text("""
[[tiers]]
name = "vip"
max_leverage_bp = 25000
annual_rate_bp = 500
warning_bp = 14000
margin_call_bp = 13000
liquidation_bp = 12500
restore_bp = 14500
max_single_name_bp = 8000
max_order_notional = 800000000
fees = { commission_ppm = 150, commission_min = 100 }
""")
    (tier,) = load_tiers(path)
    assert tier.name == "vip" and tier.max_leverage_bp == 25_000
    assert tier.fees.commission_ppm == 150 and tier.fees.commission_min == 100 and tier.fees.stamp_duty_ppm == 500


@pytest.mark.parametrize("override,message", [
    ("warning_bp = 12000\nmargin_call_bp = 12500", "warning > margin_call"),
    ("restore_bp = 13100", "restore_bp=13100"),
    ("max_leverage_bp = 9000", "max_leverage_bp"),
    ("surprise = 1", "unknown field"),
])
def test_invalid_tiers_are_refused_with_the_reason(tmp_path, override, message):
    fields = {
        "name": '"x"', "max_leverage_bp": "30000", "annual_rate_bp": "800", "warning_bp": "13000",
        "margin_call_bp": "12500", "liquidation_bp": "12000", "restore_bp": "13500",
        "max_single_name_bp": "6000", "max_order_notional": "1000",
    }
    for line in override.splitlines():
        k, v = (s.strip() for s in line.split("="))
        fields[k] = v
    path = tmp_path / "tiers.toml"
    path.write_text("[[tiers]]\n" + "\n".join(f"{k} = {v}" for k, v in fields.items()))
    with pytest.raises(ValueError, match=message):
        load_tiers(path)
