"""Number formatting shared by the benchmark scripts' Markdown output."""


def number(value, digits, suffix=""):
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def percent(value):
    return "" if value is None else f"{100 * value:.0f}%"


def percentile(values, q):
    """The value at quantile q of `values` (nearest rank), or None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
