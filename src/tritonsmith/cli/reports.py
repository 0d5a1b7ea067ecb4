"""`tritonsmith report` (a bench folder's HTML report) and `tritonsmith compare` (two bench folders)."""

from __future__ import annotations

import argparse

from tritonsmith.cli.errors import EXIT_PASSED, UsageError


def register(commands) -> None:
    report = commands.add_parser("report", help="write a bench folder's self-contained HTML report")
    report.add_argument("bench", help="the bench folder (bench --out), holding results.jsonl")
    report.add_argument("--out", help="the HTML file (default BENCH/report.html)")
    report.set_defaults(handler=report_command)

    compare = commands.add_parser("compare", help="two bench folders side by side, per task and overall")
    compare.add_argument("bench_a", help="the first bench folder (bench --out), the one compared against")
    compare.add_argument("bench_b", help="the second bench folder, set beside the first")
    compare.set_defaults(handler=compare_command)


def report_command(args: argparse.Namespace) -> int:
    from tritonsmith.report.html import write_report

    try:
        path = write_report(args.bench, args.out)
    except FileNotFoundError as err:
        raise UsageError(str(err).rstrip(".") + ".") from None
    print(path)
    return EXIT_PASSED


def compare_command(args: argparse.Namespace) -> int:
    from tritonsmith.report.compare import compare

    try:
        print(compare(args.bench_a, args.bench_b))
    except FileNotFoundError as err:
        raise UsageError(str(err).rstrip(".") + ".") from None
    return EXIT_PASSED
