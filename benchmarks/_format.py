"""Number formatting shared by the benchmark scripts' Markdown output."""


def number(value, digits, suffix=""):
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def percent(value):
    return "" if value is None else f"{100 * value:.0f}%"
