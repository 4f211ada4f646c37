"""Stable Diffusion 1.x, 2.x and XL (base, refiner, inpainting): the UNet era. Detection from
keys and shapes, the published configs, the original single-file layouts, loading into the
model store and saving back."""
