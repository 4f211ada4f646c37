"""Workflow builders for the SD tests: a txt2img graph and small variations of it."""

from __future__ import annotations

from typing import Any

from engine.workflow import Link, Workflow, WorkflowNode


def link(node: str, output: str) -> Link:
    return Link(node=node, output=output)


def txt2img(
    ckpt: str = "tiny_sd1.safetensors",
    *,
    prompt: str = "a red circle",
    seed: int = 3,
    steps: int = 4,
    size: int = 64,
    batch: int = 1,
    sampler: str = "euler",
    scheduler: str = "normal",
    **sample: Any,
) -> Workflow:
    nodes = {
        "ckpt": WorkflowNode(type="sd.load_checkpoint", inputs={"ckpt_name": ckpt}),
        "pos": WorkflowNode(
            type="sd.encode_prompt", inputs={"text": prompt, "clip": link("ckpt", "clip")}
        ),
        "neg": WorkflowNode(
            type="sd.encode_prompt", inputs={"text": "", "clip": link("ckpt", "clip")}
        ),
        "empty": WorkflowNode(
            type="sd.empty_latent", inputs={"width": size, "height": size, "batch_size": batch}
        ),
        "sample": WorkflowNode(
            type="sd.sample",
            inputs={
                "model": link("ckpt", "model"),
                "positive": link("pos", "conditioning"),
                "negative": link("neg", "conditioning"),
                "latent_image": link("empty", "latent"),
                "seed": seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": sampler,
                "scheduler": scheduler,
                **sample,
            },
        ),
        "decode": WorkflowNode(
            type="sd.vae_decode",
            inputs={"samples": link("sample", "latent"), "vae": link("ckpt", "vae")},
        ),
        "save": WorkflowNode(type="image.save", inputs={"images": link("decode", "image")}),
    }
    return Workflow(nodes=nodes)


def with_node(workflow: Workflow, node_id: str, type_id: str, **inputs: Any) -> Workflow:
    copy = workflow.model_copy(deep=True)
    copy.nodes[node_id] = WorkflowNode(type=type_id, inputs=inputs)
    return copy


def rewire(workflow: Workflow, node_id: str, **inputs: Any) -> Workflow:
    copy = workflow.model_copy(deep=True)
    copy.nodes[node_id].inputs.update(inputs)
    return copy
