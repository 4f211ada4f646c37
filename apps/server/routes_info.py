"""What the server knows: node definitions (/object_info), models on disk, embeddings,
the machine (/system_stats)."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import PurePosixPath
from typing import Any

from aiohttp import web

from apps.server.comfy_info import comfy_name, object_info
from apps.server.http import fail, ok
from apps.server.state import SERVICES
from engine.model_paths import KINDS, ModelPaths

routes = web.RouteTableDef()
VERSION = "0.1.0"


@routes.get("/object_info")
async def all_object_info(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return ok(
        {comfy_name(spec): object_info(spec, services.settings) for spec in services.registry}
    )


@routes.get("/object_info/{node}")
async def one_object_info(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    name = request.match_info["node"]
    spec = services.registry.by_comfy(name) or services.registry.get(name)
    if spec is None:
        return ok({})  # ComfyUI's answer for a class it does not have
    return ok({comfy_name(spec): object_info(spec, services.settings)})


@routes.get("/models")
async def model_kinds(request: web.Request) -> web.Response:
    return ok(list(KINDS))


@routes.get("/models/{folder}")
async def model_files(request: web.Request) -> web.Response:
    kind = request.match_info["folder"]
    if kind not in KINDS:
        fail(404, f"no model folder {kind!r}; there are {', '.join(KINDS)}")
    return ok(ModelPaths.from_settings(request.app[SERVICES].settings).list(kind))


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    names = ModelPaths.from_settings(request.app[SERVICES].settings).list("embeddings")
    return ok([str(PurePosixPath(n).with_suffix("")) for n in names])


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    """ComfyUI's shape, key for key (typed clients warn on any other); what the model store
    holds is at /v1/workers."""
    total, free = _ram()
    return ok(
        {
            "system": {
                "os": os.name,
                "ram_total": total,
                "ram_free": free,
                "comfyui_version": VERSION,
                "required_frontend_version": _installed("comfyui-frontend-package") or "",
                "installed_templates_version": _installed("comfyui-workflow-templates"),
                "required_templates_version": _installed("comfyui-workflow-templates") or "",
                "python_version": sys.version,
                "pytorch_version": _torch_version(),
                "embedded_python": False,
                "argv": redacted(sys.argv),
            },
            "devices": [_device(request.app[SERVICES].executor.devices.device, total, free)],
        }
    )


def _device(device: Any, ram_total: int, ram_free: int) -> dict[str, Any]:
    """The device jobs run on, as ComfyUI describes it (on a CPU, its memory is the RAM)."""
    import torch

    if device.type != "cuda":
        return {"name": str(device), "type": device.type, "index": device.index,
                "vram_total": ram_total, "vram_free": ram_free,
                "torch_vram_total": 0, "torch_vram_free": 0}  # fmt: skip
    free, total = torch.cuda.mem_get_info(device)
    reserved = torch.cuda.memory_reserved(device)
    return {
        "name": torch.cuda.get_device_name(device),
        "type": "cuda",
        "index": device.index or 0,
        "vram_total": total,
        "vram_free": free,
        "torch_vram_total": reserved,
        "torch_vram_free": reserved - torch.cuda.memory_allocated(device),
    }


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def _installed(distribution: str) -> str | None:
    """The installed version of a package ComfyUI reports (its frontend, its templates)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


SECRET_OPTIONS = ("--token",)
REDACTED = "<redacted>"


def redacted(argv: list[str]) -> list[str]:
    """The command line with the values of secret options (`--token T`, `--token=T`, and
    the abbreviations argparse accepts, `--tok T`) hidden: /system_stats shows it to
    every client."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        option, equals, _ = arg.partition("=")
        if hide_next:
            shown.append(REDACTED)
        elif equals and _secret(option):
            shown.append(f"{option}={REDACTED}")
        else:
            shown.append(arg)
        hide_next = not hide_next and not equals and _secret(arg)
    return shown


def _secret(option: str) -> bool:
    return len(option) > 3 and any(name.startswith(option) for name in SECRET_OPTIONS)


def _ram() -> tuple[int, int]:
    """Total and available RAM in bytes (Linux's MemAvailable; else total for both)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return total, int(line.split()[1]) * 1024
    except OSError:
        pass
    return total, total
