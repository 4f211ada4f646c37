"""A1111/Forge names for samplers, schedules and hires upscalers, and ComfyUI's (ours) for
the same thing. Labels are A1111's (`modules/sd_samplers_kdiffusion.py`,
`sd_samplers_timesteps.py`, `sd_schedulers.py`) and Forge's additions."""

from __future__ import annotations

SAMPLERS = {
    "Euler a": "euler_ancestral",
    "Euler": "euler",
    "LMS": "lms",
    "Heun": "heun",
    "DPM2": "dpm_2",
    "DPM2 a": "dpm_2_ancestral",
    "DPM++ 2S a": "dpmpp_2s_ancestral",
    "DPM++ 2M": "dpmpp_2m",
    "DPM++ SDE": "dpmpp_sde",
    "DPM++ 2M SDE": "dpmpp_2m_sde",
    "DPM++ 2M SDE Heun": "dpmpp_2m_sde_heun",
    "DPM++ 3M SDE": "dpmpp_3m_sde",
    "DPM fast": "dpm_fast",
    "DPM adaptive": "dpm_adaptive",
    "DDIM": "ddim",
    "DDPM": "ddpm",
    "UniPC": "uni_pc",
    "LCM": "lcm",
    "DEIS": "deis",
    "iPNDM": "ipndm",
    "iPNDM_v": "ipndm_v",
    "Euler CFG++": "euler_cfg_pp",
    "Euler a CFG++": "euler_ancestral_cfg_pp",
    "DPM++ 2M CFG++": "dpmpp_2m_cfg_pp",
    "DPM++ 2S a CFG++": "dpmpp_2s_ancestral_cfg_pp",
    "Heun PP2": "heunpp2",
}

# What "Schedule type: Automatic" (or no schedule at all) means for each sampler in
# A1111 1.9+: the sampler's own default, else the model's (ComfyUI's "normal").
AUTOMATIC_SCHEDULES = {
    "DPM++ 2M": "karras",
    "DPM++ SDE": "karras",
    "DPM++ 2S a": "karras",
    "DPM2": "karras",
    "DPM2 a": "karras",
    "DPM++ 2M SDE": "exponential",
    "DPM++ 2M SDE Heun": "exponential",
    "DPM++ 3M SDE": "exponential",
}

SCHEDULES = {
    "automatic": "normal",
    "uniform": "normal",
    "normal": "normal",
    "karras": "karras",
    "exponential": "exponential",
    "sgm uniform": "sgm_uniform",
    "sgm_uniform": "sgm_uniform",
    "simple": "simple",
    "ddim": "ddim_uniform",
    "beta": "beta",
    "kl optimal": "kl_optimal",
    "linear quadratic": "linear_quadratic",
}

# Older A1111 wrote the schedule into the sampler's name: "DPM++ 2M Karras".
SCHEDULE_SUFFIXES = (" Karras", " Exponential")

# Hires upscalers that work on the latent: A1111's label -> Upscale Latent's method.
LATENT_UPSCALERS = {
    "Latent": "bilinear",
    "Latent (antialiased)": "bilinear",
    "Latent (bicubic)": "bicubic",
    "Latent (bicubic antialiased)": "bicubic",
    "Latent (nearest)": "nearest-exact",
    "Latent (nearest-exact)": "nearest-exact",
}
ANTIALIASED = ("Latent (antialiased)", "Latent (bicubic antialiased)")

# Hires upscalers that resize pixels without a model: label -> Scale Image's method.
PIXEL_UPSCALERS = {"None": "lanczos", "Lanczos": "lanczos", "Nearest": "nearest-exact"}

# A1111's built-in model upscalers are named after the model, not the file; the files
# people have are named like this.
UPSCALER_FILES = {
    "R-ESRGAN 4x+": "RealESRGAN_x4plus",
    "R-ESRGAN 4x+ Anime6B": "RealESRGAN_x4plus_anime_6B",
    "R-ESRGAN 2x+": "RealESRGAN_x2plus",
    "ESRGAN_4x": "ESRGAN_4x",
    "SwinIR 4x": "SwinIR_4x",
    "SwinIR_4x": "SwinIR_4x",
}


def split_sampler(label: str) -> tuple[str, str | None]:
    """ "DPM++ 2M Karras" -> ("DPM++ 2M", "karras"); a current label has no schedule."""
    for suffix in SCHEDULE_SUFFIXES:
        if label.endswith(suffix) and label[: -len(suffix)] in SAMPLERS:
            return label[: -len(suffix)], suffix.strip().lower()
    return label, None
