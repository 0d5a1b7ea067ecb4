"""The `tritonsmith` command: one module per group of commands, each adding its own parsers (`register`).
Heavy imports happen inside each command, never at import time."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading

from tritonsmith.cli import bench, evaluate, gpu, queue, reports, run, tasks
from tritonsmith.cli.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_PASSED,
    EXIT_PENDING,
    EXIT_USAGE,
    CommandInterrupted,
    UsageError,
)

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_FAILED", "EXIT_PASSED", "EXIT_PENDING", "EXIT_USAGE", "UsageError", "build_parser",
           "main"]


def build_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="tritonsmith", description="LLM agents that write correct, fast Triton kernels, measured honestly.")
    from tritonsmith import __version__
    top.add_argument("--version", action="version", version=f"tritonsmith {__version__}")
    commands = top.add_subparsers(metavar="COMMAND")
    for group in (evaluate, run, bench, queue, gpu, reports, tasks):
        group.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    from tritonsmith import interrupt
    from tritonsmith.config import ConfigError
    from tritonsmith.durable import FileError
    from tritonsmith.evaluate import DeviceError
    from tritonsmith.task import TaskError
    previous = None
    if threading.current_thread() is threading.main_thread():
        interrupt.STOP.clear()
        previous = interrupt.install()  # Ctrl-C, SIGTERM: stop starting work and save; again: exit at once
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe is found here, not at interpreter exit
        return status
    except (UsageError, TaskError, DeviceError, ConfigError, FileError) as err:
        if getattr(args, "json", False):  # a JSON reader gets JSON, whatever happened
            print(json.dumps({"error": str(err)}))
        print(f"tritonsmith: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `tritonsmith tasks | head -1`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("tritonsmith: interrupted", file=sys.stderr)
        return interrupt.exit_code()
    except CommandInterrupted as stop:
        print(f"tritonsmith: interrupted: {stop}", file=sys.stderr)
        return interrupt.exit_code()
    finally:
        if previous is not None:  # main() called from Python: its caller's handler again
            interrupt.restore(previous)

