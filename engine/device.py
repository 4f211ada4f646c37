"""The one place that decides where tensors live and in what precision."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

DTYPES = ("float32", "bfloat16", "float16")  # what `--dtype` may force


def cpu_computes_bf16_natively() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX tiles or AVX-512 BF16).
    There oneDNN runs a full SD 1.5 UNet step about 3x faster in bfloat16 than in float32
    (0.53 s vs 1.63 s at 256x256 on this project's 2-core Xeon); elsewhere bfloat16 is
    emulated and slower than float32."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


class DevicePolicy:
    """cuda, then mps, then cpu, unless forced. Compute precision: half on accelerators;
    on the CPU bfloat16 where the hardware does it natively, else float32."""

    def __init__(
        self, device: str | None = None, dtype: str | None = None, threads: int | None = None
    ) -> None:
        self._forced_device = device
        self._forced_dtype = None if dtype == "auto" else dtype
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

    @property
    def forced(self) -> bool:
        """Whether the user chose the precision (`--dtype`): weights are then held in it."""
        return self._forced_dtype is not None

    @cached_property
    def dtype(self) -> torch.dtype:
        import torch

        if self._forced_dtype:
            dtype = getattr(torch, self._forced_dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"unknown dtype {self._forced_dtype!r}")
            return dtype
        if self.device.type != "cpu":
            return torch.float16  # what accelerators are fast at, half the memory
        # Many CPU kernels are slow or missing in float16; bfloat16 only pays where the
        # hardware multiplies it.
        return torch.bfloat16 if cpu_computes_bf16_natively() else torch.float32

    def dtype_for(self, accelerator_dtype: str) -> torch.dtype:
        """What a model computes in: the forced dtype if any, the CPU's choice on the CPU,
        else the one its family wants on an accelerator (Flux's activations overflow
        float16)."""
        import torch

        if self._forced_dtype or self.device.type == "cpu":
            return self.dtype
        dtype = getattr(torch, accelerator_dtype)
        assert isinstance(dtype, torch.dtype)
        return dtype

    @property
    def text_dtype(self) -> torch.dtype:
        """What text encoders compute in: float32 on the CPU unless forced (a prompt is
        encoded once per run, so precision costs nothing there), else as the models."""
        import torch

        if self.device.type == "cpu" and not self._forced_dtype:
            return torch.float32
        return self.dtype

    @property
    def overflow_safe_dtype(self) -> torch.dtype:
        """For what overflows float16 (SDXL's VAE): bfloat16, which has float32's range,
        where the device computes it natively, else float32."""
        import torch

        if self.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if self.device.type == "cpu" and cpu_computes_bf16_natively():
            return torch.bfloat16
        return torch.float32

    @property
    def channels_last(self) -> bool:
        """Whether convolution weights go channels-last: measured faster for a UNet step
        on CUDA and for bfloat16 on the CPU (0.53 s vs 0.60 s), slower for float32 on the
        CPU (1.81 s vs 1.63 s), where oneDNN reorders each layer."""
        import torch

        return self.device.type == "cuda" or (
            self.device.type == "cpu" and self.dtype == torch.bfloat16
        )

    def describe(self) -> dict[str, Any]:
        import torch

        info: dict[str, Any] = {"device": str(self.device), "dtype": str(self.dtype)}
        if self.device.type == "cuda":
            free, total = torch.cuda.mem_get_info(self.device)
            info.update(
                name=torch.cuda.get_device_name(self.device), vram_total=total, vram_free=free
            )
        return info
