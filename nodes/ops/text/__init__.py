"""Prompts to conditioning: tokenizers built offline from shipped data, textual-inversion
embeddings, and each family's way of encoding text."""
