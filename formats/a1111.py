"""An A1111/Forge/Civitai `parameters` text as a workflow that reproduces it:

    Load Checkpoint -> Load LoRA (one per `<lora:...>` tag) -> CLIP Set Last Layer (Clip
    skip) -> two prompts -> Empty Latent (Size) -> KSampler -> [hires fix: upscale ->
    KSampler at Denoising strength] -> VAE Decode (the checkpoint's VAE or `VAE:`) -> Save

The graph is written in ComfyUI's API format and read like any other (so each class maps
to whichever node of ours stands for it). Model files are matched against ours by name,
then by hash; a file we do not have keeps A1111's name, so validation names the loader's
input at fault and the user picks a file there. Every setting the workflow does not
reproduce is listed in `meta.import_notes`, never silently dropped.
"""

from __future__ import annotations

from engine.jsontext import JSONRefused, parse_json
from engine.registry import Registry
from engine.settings import Settings
from engine.workflow import DocumentError, Workflow
from formats.a1111_files import ModelFiles
from formats.a1111_graph import Import, ImportNote, Link
from formats.a1111_hires import Pass, add_hires, wants_hires
from formats.a1111_prompt import note_missing_embeddings, prompt_for_us
from formats.a1111_text import PARAMETERS_CHUNK, Infotext, PromptTag, parse_infotext
from formats.comfy_api import from_comfy_api

__all__ = ["PARAMETERS_CHUNK", "ImportNote", "from_infotext", "import_notes"]

NOTES_KEY = "import_notes"
# Real infotexts are a few thousand characters; a larger chunk would only make a huge graph
# (one node per LoRA tag) out of an untrusted upload.
MAX_INFOTEXT_CHARS = 100_000
SAVE_PREFIX = "a1111"
# Settings that say where the picture came from, or name files we match by name first:
# nothing to reproduce, so not listed as notes.
_PROVENANCE = (
    "Version", "Model hash", "Lora hashes", "Hashes", "VAE hash",
    "Civitai resources", "Civitai metadata", "Created Date", "Hypernet hash",
)  # fmt: skip


def from_infotext(text: str, registry: Registry, settings: Settings | None = None) -> Workflow:
    """The workflow for one `parameters` text; `settings` gives the model folders that
    the names are matched against (None: no matching, names kept as written)."""
    if len(text) > MAX_INFOTEXT_CHARS:
        raise DocumentError(
            f"its {PARAMETERS_CHUNK!r} chunk holds {len(text):,} characters; generation "
            f"settings longer than {MAX_INFOTEXT_CHARS:,} are not read"
        )
    info = parse_infotext(text)
    imp = Import(info.pairs, registry, ModelFiles(settings))
    _build(imp, info)
    for key, value in imp.left.items():
        if key not in _PROVENANCE and not key.endswith(" hash"):
            imp.note(key, value, "not reproduced by this workflow")
    workflow = from_comfy_api(imp.nodes, registry)
    meta = {
        "title": "Imported A1111 parameters",
        "description": "Rebuilt from the generation settings written in a PNG by A1111, "
        "Forge or Civitai.",
        NOTES_KEY: [note.to_dict() for note in imp.notes],
    }
    return workflow.model_copy(update={"meta": meta})


def import_notes(workflow: Workflow) -> list[str]:
    """The notes an import left on a workflow, as sentences (none for other workflows)."""
    notes = workflow.meta.get(NOTES_KEY)
    if not isinstance(notes, list):
        return []
    return [f"{n['setting']}: {n['value']}: {n['note']}" for n in notes if isinstance(n, dict)]


def _build(imp: Import, info: Infotext) -> None:
    checkpoint = imp.add("CheckpointLoaderSimple", ckpt_name=_checkpoint_name(imp))
    model: Link = [checkpoint, 0]
    clip: Link = [checkpoint, 1]
    model, clip = _loras(imp, info.tags, model, clip)
    _note_civitai_loras(imp, len(info.tags))
    for tag in info.negative_tags:
        imp.note(
            "Negative prompt",
            f"<{tag.kind}:{tag.name}>",
            "tags in the negative prompt are not applied",
        )
    clip = _clip_skip(imp, clip)
    vae = _vae(imp, [checkpoint, 2])
    note_missing_embeddings(imp)
    positive_text = prompt_for_us(imp, info.prompt, "Prompt")
    negative_text = prompt_for_us(imp, info.negative_prompt, "Negative prompt")
    positive = imp.add("CLIPTextEncode", "Positive", text=positive_text, clip=clip)
    negative = imp.add("CLIPTextEncode", "Negative", text=negative_text, clip=clip)
    width, height = imp.size("Size") or (512, 512)
    sampler_name, scheduler = imp.sampler("Sampler", "Schedule type", ("euler", "normal"))
    first = Pass(
        model=model,
        clip=clip,
        vae=vae,
        positive=[positive, 0],
        negative=[negative, 0],
        seed=int(imp.number("Seed", 0, whole=True)),
        steps=int(imp.number("Steps", 20, whole=True)),
        cfg=imp.number("CFG scale", 7.0),
        sampler_name=sampler_name,
        scheduler=scheduler,
        width=width,
        height=height,
    )
    empty = imp.add("EmptyLatentImage", width=width, height=height, batch_size=1)
    latent = first.sample(imp, [empty, 0], 1.0, "Sampler")
    if wants_hires(imp.left):
        latent = add_hires(imp, first, latent)
    elif "Denoising strength" in imp.left:
        imp.note(
            "Denoising strength",
            imp.take("Denoising strength"),
            "an img2img picture: its source image is not in the PNG; rebuilt as txt2img",
        )
    decoded = imp.add("VAEDecode", samples=latent, vae=vae)
    imp.add("SaveImage", images=[decoded, 0], filename_prefix=SAVE_PREFIX)


def _checkpoint_name(imp: Import) -> str:
    name, short_hash = imp.take("Model"), imp.take("Model hash")
    found = imp.files.by_stem("checkpoints", name) if name else None
    if found is None and short_hash:
        found = imp.files.by_hash("checkpoints", short_hash)
    if found is not None:
        return found
    if name is None and short_hash is None:
        listed = imp.files.names("checkpoints")
        if listed:
            imp.note("Model", "(not named)", f"the image names no model; {listed[0]} chosen")
            return listed[0]
        imp.note("Model", "(not named)", "the image names no model and you have none")
        return ""
    wanted = name or short_hash or ""
    imp.note(
        "Model" if name else "Model hash",
        wanted,
        "not among your checkpoints (by name or hash); pick one in Load Checkpoint's ckpt_name",
    )
    return wanted if "." in wanted.rsplit("/", 1)[-1] else f"{wanted}.safetensors"


def _loras(imp: Import, tags: list[PromptTag], model: Link, clip: Link) -> tuple[Link, Link]:
    for tag in tags:
        if tag.kind == "hypernet":
            imp.note("Prompt", f"<hypernet:{tag.name}>", "hypernetworks are not supported")
            continue
        text_weight, unet_weight = _lora_weights(imp, tag)
        found = imp.files.by_stem("loras", tag.name)
        if found is None:
            imp.note(
                "Prompt",
                f"<{tag.kind}:{tag.name}>",
                "not among your LoRAs; pick one in Load LoRA's lora_name or delete the node",
            )
        node = imp.add(
            "LoraLoader",
            f"LoRA {tag.name}",
            model=model,
            clip=clip,
            lora_name=found or f"{tag.name}.safetensors",
            strength_model=unet_weight,
            strength_clip=text_weight,
        )
        model, clip = [node, 0], [node, 1]
    return model, clip


def _note_civitai_loras(imp: Import, tags: int) -> None:
    """Civitai's generator lists the LoRAs it used in `Civitai resources` (by their display
    names, not file names); those without a `<lora:...>` tag in the prompt are not applied."""
    try:
        resources = parse_json(imp.left.get("Civitai resources", "[]"))
    except JSONRefused:
        return
    if not isinstance(resources, list):
        return
    loras = [
        f"{r.get('modelName', '?')} ({r.get('modelVersionName', '?')}) at {r.get('weight', 1)}"
        for r in resources
        if isinstance(r, dict) and str(r.get("type", "")).lower() in ("lora", "locon", "lycoris")
    ]
    if len(loras) > tags:
        imp.note(
            "Civitai resources",
            "; ".join(loras),
            f"{len(loras)} LoRAs listed, {tags} tagged in the prompt: only tagged ones are "
            "applied; add a Load LoRA for the others",
        )


def _lora_weights(imp: Import, tag: PromptTag) -> tuple[float, float]:
    """A1111's `<lora:name:te:unet>`: the first number is the text encoder's weight, the
    second (default: the first) the denoiser's; `te=` and `unet=` name them."""
    named: dict[str, str] = {}
    positional: list[str] = []
    for part in tag.weights:
        key, eq, value = part.partition("=")
        if eq:
            named[key.strip()] = value
        else:
            positional.append(part)
    text = _weight(imp, tag, named.get("te", positional[0] if positional else "1"))
    unet_raw = named.get("unet", positional[1] if len(positional) > 1 else None)
    unet = text if unet_raw is None else _weight(imp, tag, unet_raw)
    for key in set(named) - {"te", "unet"}:
        imp.note("Prompt", f"<{tag.kind}:{tag.name}:{key}=...>", f"{key}= is not supported")
    return text, unet


def _weight(imp: Import, tag: PromptTag, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        imp.note("Prompt", f"<{tag.kind}:{tag.name}:{raw}>", "weight is not a number; 1 used")
        return 1.0


def _clip_skip(imp: Import, clip: Link) -> Link:
    skip = int(imp.number("Clip skip", 1, whole=True))
    if skip <= 1:
        return clip
    node = imp.add("CLIPSetLastLayer", "Clip skip", clip=clip, stop_at_clip_layer=-skip)
    return [node, 0]


def _vae(imp: Import, checkpoint_vae: Link) -> Link:
    name = imp.take("VAE")
    if name is None or name.strip().lower() in ("automatic", "none", ""):
        return checkpoint_vae
    stem = (
        name.rsplit(".", 1)[0] if name.lower().endswith((".safetensors", ".pt", ".ckpt")) else name
    )
    found = imp.files.by_stem("vae", stem)
    if found is None:
        imp.note("VAE", name, "not among your VAEs; pick one in Load VAE's vae_name")
    node = imp.add("VAELoader", vae_name=found or name)
    return [node, 0]
