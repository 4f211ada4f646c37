"""Sampling a latent: schedules, the guided denoiser, the samplers and previews."""
