"""Weights as files and tensors, whatever the family: safe reading and writing, filling a
model built on the meta device, the layouts shared by families (VAE, CLIP), LoRA patches."""
