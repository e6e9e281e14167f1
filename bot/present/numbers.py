"""Numbers as a shop owner reads them, one style for every front end.

- a share (a fraction 0…1 in the core) is a percentage with one decimal: `73.0%`;
- money is in the shop's currency with that currency's minor units:
  `0.25 EUR`, `1,200 JPY`, `3.500 BHD`;
- a count has thousands separators: `12,345`;
- a mean score keeps its scale: `4.04 / 5`; NPS is signed: `+33.8`.

"—" means no data (a rate over zero deliveries), never 0.
"""

from __future__ import annotations

NO_DATA = "—"

# ISO 4217 currencies whose minor unit is not the usual hundredth.
_MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (2 unless ISO 4217 says otherwise)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def pct(share: float | None) -> str:
    """A share 0…1 as a percentage with one decimal ("73.0%")."""
    return NO_DATA if share is None else f"{100 * share:.1f}%"


def pct_value(share: float | None) -> float | None:
    """The same share as a plain number of percent, one decimal (CSV, JSON)."""
    return None if share is None else round(100 * share, 1)


def count(n: int | None) -> str:
    """A count with thousands separators ("12,345")."""
    return NO_DATA if n is None else f"{n:,}"


def money(amount: float | None, currency: str) -> str:
    """An amount in the shop's currency with its minor units ("0.25 EUR")."""
    if amount is None:
        return NO_DATA
    return f"{amount:,.{minor_units(currency)}f} {currency.upper()}"


def money_value(amount: float | None, currency: str) -> float | None:
    """The amount rounded to the currency's minor units (CSV, JSON)."""
    return None if amount is None else round(amount, minor_units(currency))


def mean(value: float | None, scale: str = "", decimals: int = 2) -> str:
    """A mean score with its scale ("4.04 / 5")."""
    if value is None:
        return NO_DATA
    return f"{value:.{decimals}f}" + (f" / {scale}" if scale else "")


def signed(value: float | None) -> str:
    """A score that can go below zero, with its sign ("+33.8", "−12.0")."""
    if value is None:
        return NO_DATA
    return f"{value:+.1f}".replace("-", "−")


def duration_minutes(minutes: float | None) -> str:
    """A duration: minutes under two hours ("90 min"), else hours with a decimal ("8.0 h")."""
    if minutes is None:
        return NO_DATA
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
