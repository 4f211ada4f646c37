import type { Edge } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import { copySelection, pasteClip } from "./clipboard";
import type { DiffNode, FlowNode, GroupNode } from "./graph";
import { makeEdge } from "./graph";

const node = (id: string, x: number, y: number, selected = false): DiffNode => ({
  id,
  type: "diff",
  position: { x, y },
  selected,
  measured: { width: 240, height: 120 },
  data: { nodeType: "sd.encode_prompt", values: { text: `text of ${id}` }, ui: {} },
});
const group = (id: string, selected = false): GroupNode => ({
  id, type: "group", position: { x: 0, y: 0 }, width: 500, height: 400, selected, data: { title: "G", extra: {} },
});

// ckpt -> prompt -> sample <- latent; prompt and sample are selected.
const nodes: FlowNode[] = [node("1", 0, 0), node("2", 300, 0, true), node("3", 300, 200), node("4", 600, 100, true)];
const edges: Edge[] = [
  makeEdge("1", "clip", "2", "clip"),
  makeEdge("2", "conditioning", "4", "positive"),
  makeEdge("3", "latent", "4", "latent_image"),
];

describe("copySelection", () => {
  it("gives null when nothing is selected", () => {
    expect(copySelection(nodes.map((n) => ({ ...n, selected: false })), edges)).toBeNull();
  });

  it("takes only the selected nodes and the edges between them", () => {
    const clip = copySelection(nodes, edges);
    expect(clip?.nodes.map((n) => n.id)).toEqual(["2", "4"]);
    expect(clip?.edges.map((e) => e.id)).toEqual(["4.positive"]);
  });

  it("copies deeply and drops measured sizes", () => {
    const clip = copySelection(nodes, edges);
    const copy = clip?.nodes[0] as DiffNode;
    expect(copy.measured).toBeUndefined();
    copy.data.values.text = "changed";
    expect((nodes[1] as DiffNode).data.values.text).toBe("text of 2");
  });
});

describe("pasteClip", () => {
  const clip = copySelection(nodes, edges)!;

  it("gives the pasted nodes new ids free in the graph", () => {
    const pasted = pasteClip(clip, nodes);
    expect(pasted.nodes.map((n) => n.id)).toEqual(["5", "6"]);
    const again = pasteClip(clip, [...nodes, ...pasted.nodes]);
    expect(again.nodes.map((n) => n.id)).toEqual(["7", "8"]);
  });

  it("shifts positions by the offset (40 by default)", () => {
    expect(pasteClip(clip, nodes).nodes.map((n) => n.position)).toEqual([{ x: 340, y: 40 }, { x: 640, y: 140 }]);
    expect(pasteClip(clip, nodes, 10).nodes[0].position).toEqual({ x: 310, y: 10 });
  });

  it("remaps edges onto the new ids", () => {
    expect(pasteClip(clip, nodes).edges).toEqual([
      { id: "6.positive", source: "5", sourceHandle: "conditioning", target: "6", targetHandle: "positive" },
    ]);
  });

  it("marks the pasted nodes selected and keeps their data", () => {
    const pasted = pasteClip(clip, nodes);
    for (const n of pasted.nodes) expect(n.selected).toBe(true);
    expect((pasted.nodes[0] as DiffNode).data).toEqual((nodes[1] as DiffNode).data);
  });

  it("does not change the clip, so it can be pasted again", () => {
    const before = structuredClone(clip);
    pasteClip(clip, nodes);
    expect(clip).toEqual(before);
  });

  it("gives a pasted group a free group id", () => {
    const all = [...nodes, group("group:0", true)];
    const pasted = pasteClip(copySelection(all, edges)!, all);
    expect(pasted.nodes.map((n) => n.id)).toEqual(["5", "6", "group:1"]);
  });
});
