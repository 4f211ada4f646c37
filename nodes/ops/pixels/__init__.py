"""Image and latent tensors: loading, saving and resizing images, edge maps, the VAE between
pixels and latents, latent resizing and batching."""
