"""ComfyUI's own frontend (the `comfyui-frontend-package` wheel: static files only), served
by `diffgraph serve --frontend comfyui` in place of our editor. One version is pinned, and
the routes here were written against its network calls (routes_userdata.py,
routes_comfy_frontend.py). ComfyUI 0.3.64 pins 1.27.10, but that one breaks every
ckpt_name, lora_name and vae_name widget on a server that lacks any of ten core loader
nodes (its model-to-node table reads their definitions unchecked); 1.28.9, the last of the
next minor, checks them and calls no route 1.27.10 does not. Another version may call
routes we lack, so it is refused at start with a message that says how to install ours."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

PACKAGE = "comfyui-frontend-package"
PINNED_VERSION = "1.28.9"
INSTALL = "pip install 'diffgraph[comfyui-frontend]'"


class FrontendUnavailable(Exception):
    """The ComfyUI frontend cannot be served; the message says what to install."""


def comfyui_frontend_dir(package: str = PACKAGE, pinned: str = PINNED_VERSION) -> Path:
    """The folder of the pinned frontend's static files (index.html, assets/, ...)."""
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise FrontendUnavailable(
            f"--frontend comfyui needs ComfyUI's frontend ({package}=={pinned}), "
            f"which is not installed: {INSTALL}"
        ) from None
    if installed != pinned:
        raise FrontendUnavailable(
            f"--frontend comfyui is tested with {package}=={pinned}, but "
            f"{installed} is installed (it may call routes this server lacks): {INSTALL}"
        )
    spec = importlib.util.find_spec("comfyui_frontend_package")
    static = Path(spec.origin).parent / "static" if spec and spec.origin else None
    if static is None or not (static / "index.html").is_file():
        raise FrontendUnavailable(
            f"{package} {installed} is installed without its static files; reinstall it: {INSTALL}"
        )
    return static


def workflow_templates_dir() -> Path | None:
    """ComfyUI's official workflow templates (`comfyui-workflow-templates-json`, JSON only,
    no thumbnails), served at /templates as ComfyUI serves its templates package; None
    when it is not installed (the frontend then lists no templates)."""
    spec = importlib.util.find_spec("comfyui_workflow_templates_json")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "templates"
    return folder if (folder / "index.json").is_file() else None
