"""The parts of bench/vs_comfyui.py that need no server: the graph both are sent, the phase
timings read from a run's WebSocket messages, and the ratio summary.

Timings are taken on the client side from when each message arrives, the same way for both
servers, so neither side's own logging decides the figures: a node runs from its `executing`
message to the next one; a sampler step is the gap between consecutive `progress` messages.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LOADER, SAMPLER, DECODE, SAVE = "4", "3", "8", "9"
PROMPT = "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
NEGATIVE = "text, watermark"


def default_graph(
    ckpt_name: str, size: int = 512, steps: int = 20, seed: int = 0
) -> dict[str, Any]:
    """ComfyUI's default txt2img graph in API format (same node ids), with the checkpoint,
    image size, step count and seed set."""

    def node(class_type: str, **inputs: Any) -> dict[str, Any]:
        return {"class_type": class_type, "inputs": inputs}

    return {
        SAMPLER: node(
            "KSampler",
            seed=seed,
            steps=steps,
            cfg=8.0,
            sampler_name="euler",
            scheduler="normal",
            denoise=1.0,
            model=[LOADER, 0],
            positive=["6", 0],
            negative=["7", 0],
            latent_image=["5", 0],
        ),
        LOADER: node("CheckpointLoaderSimple", ckpt_name=ckpt_name),
        "5": node("EmptyLatentImage", width=size, height=size, batch_size=1),
        "6": node("CLIPTextEncode", text=PROMPT, clip=[LOADER, 1]),
        "7": node("CLIPTextEncode", text=NEGATIVE, clip=[LOADER, 1]),
        DECODE: node("VAEDecode", samples=[SAMPLER, 0], vae=[LOADER, 2]),
        SAVE: node("SaveImage", filename_prefix="bench", images=[DECODE, 0]),
    }


Message = tuple[float, dict[str, Any]]  # (arrival time on the client, the parsed message)


@dataclass(frozen=True)
class RunTimes:
    """One cold run, in seconds from the server process's start."""

    ready: float  # process start to HTTP ready
    loader: float  # the checkpoint loader node
    first_step: float  # the sampler's start to its first step (pays deferred loading)
    step: float  # median sampler step after the first
    decode: float  # VAE decode node
    first_image: float  # process start to the save node's `executed`
    peak_rss_mb: float

    METRICS = ("ready", "loader", "first_step", "step", "decode", "first_image", "peak_rss_mb")


def node_spans(messages: Sequence[Message]) -> dict[str, tuple[float, float]]:
    """node id -> (start, end): from its `executing` message to the next one (the next node
    or the final `executing` with node None)."""
    marks = [
        (t, m["data"].get("node"))
        for t, m in messages
        if m.get("type") == "executing" and isinstance(m.get("data"), dict)
    ]
    return {node: (t, marks[i + 1][0]) for i, (t, node) in enumerate(marks[:-1]) if node}


def step_times(messages: Sequence[Message], node: str = SAMPLER) -> list[float]:
    """Gaps between consecutive `progress` messages of the sampler node; the first step is
    measured from the node's start (its `executing`), so a run of n steps gives n gaps."""
    start = node_spans(messages).get(node, (None, None))[0]
    ticks = [
        t
        for t, m in messages
        if m.get("type") == "progress" and (m.get("data") or {}).get("node") in (node, None)
    ]
    points = ([start] if start is not None else []) + ticks
    return [b - a for a, b in itertools.pairwise(points)]


def run_times(messages: Sequence[Message], started: float, ready: float, rss_mb: float) -> RunTimes:
    """A run's phases from its messages; `started` and `ready` on the same clock."""
    spans = node_spans(messages)
    for node in (LOADER, DECODE):
        if node not in spans:
            raise ValueError(f"node {node} never ran: {[m.get('type') for _, m in messages]}")
    executed = [
        t
        for t, m in messages
        if m.get("type") == "executed" and (m.get("data") or {}).get("node") == SAVE
    ]
    if not executed:
        raise ValueError("the save node never reported `executed`")
    steps = step_times(messages)
    # The first step also pays one-off work (ComfyUI moves and casts the weights there, not in
    # its loader node): it is shown apart, and the median of the rest is the steady step.
    steady = steps[1:] or steps
    return RunTimes(
        ready=ready - started,
        loader=spans[LOADER][1] - spans[LOADER][0],
        first_step=steps[0] if steps else float("nan"),
        step=statistics.median(steady) if steady else float("nan"),
        decode=spans[DECODE][1] - spans[DECODE][0],
        first_image=executed[0] - started,
        peak_rss_mb=rss_mb,
    )


def ratio_summary(ours: Sequence[RunTimes], theirs: Sequence[RunTimes]) -> list[dict[str, Any]]:
    """Per metric: each side's median, and diffgraph/ComfyUI of each interleaved pair
    (run i of ours against run i of theirs) as min and median. Below 1 is diffgraph ahead."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"need paired runs, got {len(ours)} and {len(theirs)}")
    rows = []
    for metric in RunTimes.METRICS:
        a = [getattr(r, metric) for r in ours]
        b = [getattr(r, metric) for r in theirs]
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        rows.append(
            {
                "metric": metric,
                "diffgraph": statistics.median(a),
                "comfyui": statistics.median(b),
                "ratio_min": min(ratios),
                "ratio_median": statistics.median(ratios),
            }
        )
    return rows


UNITS = {"peak_rss_mb": ("MB", 1.0)}


def markdown(rows: Sequence[dict[str, Any]], pairs: int) -> str:
    lines = [
        f"| measure | diffgraph | ComfyUI | diffgraph/ComfyUI min | median ({pairs} pairs) |",
        "|---|--:|--:|--:|--:|",
    ]
    for row in rows:
        unit, scale = UNITS.get(row["metric"], ("s", 1.0))
        a, b = row["diffgraph"] * scale, row["comfyui"] * scale
        lines.append(
            f"| {row['metric']} | {a:.3f} {unit} | {b:.3f} {unit} "
            f"| {row['ratio_min']:.2f} | {row['ratio_median']:.2f} |"
        )
    return "\n".join(lines)
