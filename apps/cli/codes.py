"""What `diffgraph` tells a script: its exit codes, and problems as lines on stderr or as
JSON on stdout.

0 success; 1 the workflow is unreadable or invalid (nothing ran); 2 bad command line;
3 a node failed while running; 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import json
import sys
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def report_invalid(as_json: bool, problems: list[dict[str, Any]]) -> int:
    """Every problem (a `Problem.to_dict()`), then EXIT_INVALID."""
    if as_json:
        print(json.dumps({"valid": False, "problems": problems}, indent=2))
    else:
        for p in problems:
            where = f"node {p['node']}" if p.get("node") else "workflow"
            if p.get("input"):
                where += f", input {p['input']!r}"
            print(f"error: {where}: {p['message']} [{p['code']}]", file=sys.stderr)
    return EXIT_INVALID
