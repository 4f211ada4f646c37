"""The `diffgraph` command. Exit codes a script can rely on:

0 success; 1 the workflow is unreadable or invalid (nothing ran); 2 bad command line;
3 a node failed while running; 130 interrupted (Ctrl+C).
Results go to stdout (paths of written files, or JSON with --json); progress and
messages go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from apps.cli.codes import EXIT_OK, report_crash, report_invalid, report_usage
from engine.device import DTYPES
from engine.jsontext import JSONRefused, dump_json, parse_json
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import DocumentError, Workflow, json_schema


class UsageError(Exception):
    """A bad command line; `usage` is the synopsis of the command it was meant for."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    # argparse prints and exits on its own; raising lets --json answer in JSON instead.
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", self.format_usage())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    try:
        return _command(argv)
    except UsageError as exc:
        return report_usage(as_json, str(exc), exc.usage)
    except Exception as exc:  # not the user's doing: reported as a bug, stdout kept JSON
        return report_crash(as_json, exc)


def _command(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env() if args.home is None else Settings.at(args.home)
    if getattr(args, "models_dir", None):  # e.g. ComfyUI's models/: its folder names are ours
        settings = replace(settings, models_dir=Path(args.models_dir).expanduser().resolve())
    if getattr(args, "output_dir", None):
        settings = replace(settings, output_dir=Path(args.output_dir).resolve())
    if getattr(args, "device", None):
        settings = replace(settings, device=args.device)
    if getattr(args, "threads", None):
        settings = replace(settings, threads=args.threads)
    if getattr(args, "dtype", None):
        settings = replace(settings, dtype=args.dtype)
    if getattr(args, "compile", False):
        settings = replace(settings, compile=True)
    if args.command == "schema":
        print(dump_json(json_schema(), indent=2))
        return EXIT_OK
    registry = Registry.discover(settings)
    for failure in registry.failures:
        print(f"warning: {failure}", file=sys.stderr)
    if args.command == "serve":
        return _serve(settings, registry, args)
    if args.command == "nodes":
        print(dump_json(registry.schema(settings), indent=2))
        return EXIT_OK
    try:
        sets = args.set if args.command == "run" else []
        workflow = _load(args.workflow, registry, settings, sets)
    except DocumentError as exc:
        return report_invalid(args.json, [{"code": "unreadable", "message": str(exc)}])
    if args.command == "validate":
        return _validate(workflow, registry, settings, args.json)
    from apps.cli.run import run

    return run(workflow, registry, settings, as_json=args.json, quiet=args.quiet)


def _serve(settings: Settings, registry: Registry, args: argparse.Namespace) -> int:
    from apps.server.serve import serve
    from apps.server.state import MAX_JOB_BYTES, MIB, ServerConfig
    from engine.admission import MAX_NODES

    project = Path(__file__).resolve().parents[2]  # the repository: workflows/, web/dist/
    workflows = settings.base_dir / "workflows"
    if args.ram_budget_gb is not None:
        settings = replace(settings, ram_budget=int(args.ram_budget_gb * 1024 * MIB))
    if args.vram_budget_gb is not None:
        settings = replace(settings, vram_budget=int(args.vram_budget_gb * 1024 * MIB))
    if args.no_warm_imports:
        settings = replace(settings, warm_imports=False)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        token=args.token,
        cors_origins=tuple(args.cors_origin),
        allow_hosts=tuple(args.allow_host),
        max_upload_bytes=int(args.max_upload_mb * MIB),
        history_size=args.history_size,
        max_job_bytes=int(args.max_job_mb * MIB) if args.max_job_mb else MAX_JOB_BYTES,
        max_nodes=args.max_nodes or MAX_NODES,
        workflows_dir=workflows if workflows.is_dir() else project / "workflows",
        web_dir=project / "web" / "dist",
        comfyui_frontend_dir=_comfyui_frontend(args.frontend),
        ray=_ray_config(args),
        preview_method=args.preview_method,
    )
    return serve(settings, config, registry)


def _comfyui_frontend(choice: str) -> Path | None:
    if choice != "comfyui":
        return None
    from apps.server.comfy_frontend import FrontendUnavailable, comfyui_frontend_dir

    try:
        return comfyui_frontend_dir()
    except FrontendUnavailable as exc:
        raise SystemExit(f"diffgraph: {exc}") from None


def _ray_config(args: argparse.Namespace) -> Any:
    from apps.cluster.config import RayConfig

    if not args.ray_address:
        return None
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise SystemExit("--ray-address needs Ray: pip install 'diffgraph[ray]'")
    return RayConfig(
        address=args.ray_address,
        workers=args.ray_workers,
        cpus_per_worker=args.ray_cpus_per_worker,
        gpus_per_worker=args.ray_gpus_per_worker,
        models_dir=Path(args.ray_models_dir) if args.ray_models_dir else None,
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="diffgraph", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home",
        help="folder with models/, input/, output/ (default: "
        "$DIFFGRAPH_HOME or the current folder)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a workflow (.json, ComfyUI API .json, or .png)")
    run.add_argument("workflow")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUE",
        help="change an input before running (VALUE is JSON, else text)",
    )
    run.add_argument("--output-dir", help="where output nodes write files")
    run.add_argument("--device", help="force a device: cpu, cuda, cuda:1, mps")
    run.add_argument("--threads", type=_positive, help="CPU threads for torch (default: all cores)")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    check = sub.add_parser("validate", help="check a workflow without running it")
    check.add_argument("workflow")
    check.add_argument("--json", action="store_true", help="print problems as JSON")
    serve = _add_serve(sub)
    nodes = sub.add_parser("nodes", help="print every node's schema as JSON")
    _add_models_dir(run, check, serve, nodes)
    _add_dtype(run, serve)
    sub.add_parser("schema", help="print the workflow document's JSON Schema")
    return parser


def _add_dtype(*parsers: argparse.ArgumentParser) -> None:
    for parser in parsers:
        parser.add_argument(
            "--dtype",
            choices=("auto", *DTYPES),
            default="auto",
            help="what models compute in (default auto: float16 on a GPU; on the CPU "
            "bfloat16 where it multiplies bfloat16 natively, else float32 with half-precision "
            "files kept half in memory). A chosen dtype also holds the weights in it.",
        )
        parser.add_argument(
            "--compile",
            action="store_true",
            help="compile the denoising network with torch.compile (needs a C++ compiler; "
            "about a minute per new image size, then faster steps; LoRA, merged and FreeU "
            "models run uncompiled)",
        )


def _add_serve(sub: Any) -> argparse.ArgumentParser:
    serve = sub.add_parser("serve", help="run the HTTP server (API, WebSocket, editor)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8188, help="port (0: any free port)")
    serve.add_argument("--token", help="access token (default: none on loopback, else made)")
    serve.add_argument(
        "--cors-origin", action="append", default=[], help="a browser origin to allow"
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to answer besides loopback and the listen address (DNS rebinding)",
    )
    serve.add_argument(
        "--frontend",
        choices=("diffgraph", "comfyui"),
        default="diffgraph",
        help="the interface served at /: our graph editor, or ComfyUI's own frontend "
        "(pip install 'diffgraph[comfyui-frontend]')",
    )
    serve.add_argument("--history-size", type=int, default=10_000, help="finished jobs kept")
    serve.add_argument("--max-upload-mb", type=float, default=50, help="upload size limit")
    serve.add_argument("--device", help="force a device: cpu, cuda, cuda:1, mps")
    serve.add_argument(
        "--preview-method",
        choices=("none", "auto", "latent2rgb", "taesd"),  # ComfyUI's; see apps.jobs.messages
        default="none",
        help="sampler previews over the WebSocket when a prompt does not ask (default: none, "
        "as ComfyUI; auto and taesd use latent2rgb, the previewer we have)",
    )
    serve.add_argument(
        "--threads", type=_positive, help="CPU threads for torch (default: all cores)"
    )
    serve.add_argument(
        "--no-warm-imports",
        action="store_true",
        help="do not import torch/diffusers in the background once serving (the first "
        "model load then pays them; for measuring start-up)",
    )
    _add_limits(serve)
    _add_ray(serve)
    return serve


def _add_limits(serve: argparse.ArgumentParser) -> None:
    limits = serve.add_argument_group("what one job may use (refused before it is queued)")
    limits.add_argument(
        "--ram-budget-gb", type=float, help="RAM for a job and resident models (default: half)"
    )
    limits.add_argument("--vram-budget-gb", type=float, help="the same on a GPU (default: any)")
    limits.add_argument("--max-nodes", type=_positive, help="nodes in a workflow (default: 5000)")
    limits.add_argument("--max-job-mb", type=float, help="a job request's size (default: 4)")


def _add_ray(serve: argparse.ArgumentParser) -> None:
    ray = serve.add_argument_group("Ray cluster (pip install 'diffgraph[ray]')")
    ray.add_argument(
        "--ray-address",
        default=os.environ.get("DIFFGRAPH_RAY_ADDRESS"),
        help="run jobs on this Ray cluster: HOST:PORT, auto, ray://HOST:10001, or local"
        " (default: $DIFFGRAPH_RAY_ADDRESS; unset: jobs run in this process)",
    )
    ray.add_argument("--ray-workers", type=int, help="actors (default: one per GPU or CPU slot)")
    ray.add_argument("--ray-cpus-per-worker", type=float, default=1.0, help="CPUs per actor")
    ray.add_argument("--ray-gpus-per-worker", type=float, help="GPUs per actor (default: 1 if any)")
    ray.add_argument(
        "--ray-models-dir", help="models folder on the workers (default: the server's)"
    )


def _add_models_dir(*commands: argparse.ArgumentParser) -> None:
    for command in commands:
        command.add_argument(
            "--models-dir",
            help="the models folder (default: HOME/models); ComfyUI's models/ works as it is",
        )


def _load(path: str, registry: Registry, settings: Settings, sets: list[str]) -> Workflow:
    from formats.a1111 import import_notes
    from formats.load import load_document

    workflow = load_document(path, registry, settings)
    for note in import_notes(workflow):  # what an A1111 PNG's workflow does not reproduce
        print(f"note: {note}", file=sys.stderr)
    changes: dict[tuple[str, str], Any] = {}
    for item in sets:
        target, sep, raw = item.partition("=")
        node_id, dot, name = target.rpartition(".")
        if not sep or not dot or not node_id or not name:
            raise DocumentError(f"--set {item!r}: expected NODE.INPUT=VALUE")
        try:
            changes[(node_id, name)] = parse_json(raw)
        except JSONRefused:  # not JSON (or NaN, a 5,000-digit number, ...): taken as text
            changes[(node_id, name)] = raw
    return workflow.with_inputs(changes) if changes else workflow


def _validate(workflow: Workflow, registry: Registry, settings: Settings, as_json: bool) -> int:
    from engine.validate import validate

    problems = validate(workflow, registry, settings)
    if problems:
        return report_invalid(as_json, [p.to_dict() for p in problems])
    if as_json:
        print(dump_json({"valid": True, "problems": []}))
    else:
        print(f"ok: {len(workflow.nodes)} nodes, no problems", file=sys.stderr)
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
