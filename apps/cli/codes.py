"""What `diffgraph` tells a script: its exit codes, and problems as lines on stderr or as
JSON on stdout.

0 success; 1 the workflow is unreadable or invalid (nothing ran); 2 bad command line;
3 a node failed while running; 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

from engine.jsontext import dump_json

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def report_invalid(as_json: bool, problems: list[dict[str, Any]]) -> int:
    """Every problem (a `Problem.to_dict()`), then EXIT_INVALID."""
    if as_json:
        print(dump_json({"valid": False, "problems": problems}, indent=2))
    else:
        for p in problems:
            where = f"node {p['node']}" if p.get("node") else "workflow"
            if p.get("input"):
                where += f", input {p['input']!r}"
            print(f"error: {where}: {p['message']} [{p['code']}]", file=sys.stderr)
    return EXIT_INVALID


def report_usage(as_json: bool, message: str, usage: str) -> int:
    """A bad command line: the usage and the reason on stderr (or JSON on stdout, so that
    a script reading --json output always gets JSON), then EXIT_USAGE."""
    if as_json:
        problem = {"code": "bad_command_line", "message": message, "node": None, "input": None}
        print(dump_json({"valid": False, "problems": [problem]}, indent=2))
    else:
        print(usage.rstrip(), file=sys.stderr)
        print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def report_crash(as_json: bool, error: BaseException) -> int:
    """An error that is not the user's (a bug here or in a node pack): its traceback on
    stderr for the report, and still JSON on stdout with --json; then EXIT_FAILED."""
    traceback.print_exception(error, file=sys.stderr)
    message = f"internal error ({type(error).__name__}: {error}); please report it"
    print(f"error: {message}", file=sys.stderr)
    if as_json:
        print(dump_json({"status": "failed", "error": {"message": message}}, indent=2))
    return EXIT_FAILED
