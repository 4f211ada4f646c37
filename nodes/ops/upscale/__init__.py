"""Super-resolution networks (ESRGAN, Real-ESRGAN, SwinIR): detection, loading, tiling."""
