"""Workflow files in the shapes users have: ComfyUI's API and editor formats, and PNGs that
carry a workflow in their text chunks. Translates to and from the engine's document; the
engine itself knows none of these formats."""
