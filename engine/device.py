"""The one place that decides where tensors live and in what precision."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class DevicePolicy:
    """cuda, then mps, then cpu, unless forced; half precision on accelerators."""

    def __init__(
        self, device: str | None = None, dtype: str | None = None, threads: int | None = None
    ) -> None:
        self._forced_device = device
        self._forced_dtype = dtype
        self._threads = threads

    @cached_property
    def device(self) -> torch.device:
        import torch

        if self._threads:  # on a shared CPU, fewer threads than cores avoid oversubscription
            torch.set_num_threads(self._threads)
        if self._forced_device:
            return torch.device(self._forced_device)
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")

    @cached_property
    def dtype(self) -> torch.dtype:
        import torch

        if self._forced_dtype:
            dtype = getattr(torch, self._forced_dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"unknown dtype {self._forced_dtype!r}")
            return dtype
        # Half precision halves memory and is what accelerators are fast at; many CPU
        # kernels are slow or missing in half, so the CPU computes in float32.
        return torch.float32 if self.device.type == "cpu" else torch.float16

    def dtype_for(self, accelerator_dtype: str) -> torch.dtype:
        """What a model computes in: the forced dtype if any, float32 on the CPU, else the
        one its family wants on an accelerator (Flux's activations overflow float16)."""
        import torch

        if self._forced_dtype or self.device.type == "cpu":
            return self.dtype
        dtype = getattr(torch, accelerator_dtype)
        assert isinstance(dtype, torch.dtype)
        return dtype

    def describe(self) -> dict[str, Any]:
        import torch

        info: dict[str, Any] = {"device": str(self.device), "dtype": str(self.dtype)}
        if self.device.type == "cuda":
            free, total = torch.cuda.mem_get_info(self.device)
            info.update(
                name=torch.cuda.get_device_name(self.device), vram_total=total, vram_free=free
            )
        return info
