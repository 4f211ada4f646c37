"""`diffgraph run`: run a workflow in the foreground, Ctrl+C as an interrupt, and report
the result for people (file paths on stdout, errors on stderr) or for scripts (--json)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from apps.cli.codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, report_invalid
from apps.cli.progress import ProgressBars
from engine.events import Listener
from engine.executor import Executor, RunResult
from engine.jsontext import dump_json
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import Workflow

EXIT_CODES = {"success": EXIT_OK, "failed": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}


def run(
    workflow: Workflow, registry: Registry, settings: Settings, *, as_json: bool, quiet: bool
) -> int:
    bars = ProgressBars(enabled=not quiet and not as_json)
    result = run_interruptibly(Executor(registry, settings), workflow, bars)
    bars.close()
    if result is None:
        print("error: the run ended without a result", file=sys.stderr)
        return EXIT_FAILED
    if result.status == "invalid":
        return report_invalid(as_json, [p.to_dict() for p in result.problems])
    files = [str(path) for path in written_files(result, settings)]
    if as_json:
        error = None if result.error is None else result.error.to_dict()
        summary = {
            "status": result.status,
            "files": files,
            "outputs": result.ui,
            "executed": result.executed,
            "cached": result.cached,
            "error": error,
        }
        print(dump_json(summary, indent=2))
    elif result.error is not None:
        print(f"error: {result.error}", file=sys.stderr)
    else:
        print("\n".join(files))
    return EXIT_CODES[result.status]


def run_interruptibly(
    executor: Executor, workflow: Workflow, listener: Listener
) -> RunResult | None:
    """The run goes on a worker thread so that Ctrl+C reaches the main thread, which turns
    it into a cooperative interrupt (the running node stops at its next step).
    Event.wait, unlike Thread.join, survives the signal."""
    box: list[RunResult] = []
    crashed: list[Exception] = []
    done = threading.Event()

    def work() -> None:
        try:
            box.append(executor.run(workflow, listener=listener))
        except Exception as exc:  # raised again on the main thread, which reports it
            crashed.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        executor.interrupt()
        done.wait()
    if crashed:
        raise crashed[0]
    return box[0] if box else None


def written_files(result: RunResult, settings: Settings) -> list[Path]:
    """The files the run's output nodes wrote (what they showed), as paths."""
    folders = {"output": settings.output_dir, "temp": settings.temp_dir}
    return [
        folders.get(item.get("type", "output"), settings.output_dir)
        / item.get("subfolder", "")
        / item["filename"]
        for ui in result.ui.values()
        for item in ui.get("images", [])
    ]
