import type { Edge } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import type { DiffNode, FlowNode, GroupNode } from "./graph";
import { makeEdge } from "./graph";
import { frameAround, insideGroup, sameSnapshot, snapshot } from "./snapshot";

const node = (id: string, x: number, y: number, size?: { width: number; height: number }): DiffNode => ({
  id, type: "diff", position: { x, y }, ...(size ? { measured: size } : {}),
  data: { nodeType: "sd.sample", values: { steps: 20 }, ui: {} },
});
const group = (x: number, y: number, width: number, height: number): GroupNode => ({
  id: "group:0", type: "group", position: { x, y }, width, height, data: { title: "G", extra: {} },
});

describe("snapshot", () => {
  it("drops selection, measured size and drag/resize state from nodes", () => {
    const busy: FlowNode = { ...node("1", 10, 20, { width: 240, height: 120 }), selected: true, dragging: true, resizing: false };
    const [kept] = snapshot([busy], []).nodes;
    expect(kept).toEqual({ id: "1", type: "diff", position: { x: 10, y: 20 }, data: busy.data });
  });

  it("drops selection and style from edges", () => {
    const edge: Edge = { ...makeEdge("1", "latent", "2", "samples"), selected: true, style: { stroke: "#f00" } };
    expect(snapshot([], [edge]).edges).toEqual([makeEdge("1", "latent", "2", "samples")]);
  });

  it("does not modify its input", () => {
    const busy: FlowNode = { ...node("1", 0, 0), selected: true };
    snapshot([busy], []);
    expect(busy.selected).toBe(true);
  });
});

describe("sameSnapshot", () => {
  const edges = [makeEdge("1", "latent", "2", "samples")];

  it("ignores transient differences such as selection", () => {
    const a = snapshot([node("1", 0, 0), node("2", 300, 0)], edges);
    const b = snapshot([{ ...node("1", 0, 0), selected: true }, node("2", 300, 0, { width: 1, height: 1 })], edges);
    expect(sameSnapshot(a, b)).toBe(true);
  });

  it("notices a moved node, a changed value and a removed edge", () => {
    const base = snapshot([node("1", 0, 0), node("2", 300, 0)], edges);
    expect(sameSnapshot(base, snapshot([node("1", 5, 0), node("2", 300, 0)], edges))).toBe(false);
    const edited = node("2", 300, 0);
    edited.data = { ...edited.data, values: { steps: 30 } };
    expect(sameSnapshot(base, snapshot([node("1", 0, 0), edited], edges))).toBe(false);
    expect(sameSnapshot(base, snapshot([node("1", 0, 0), node("2", 300, 0)], []))).toBe(false);
  });
});

describe("insideGroup", () => {
  const frame = group(100, 100, 500, 400);

  it("takes diff nodes lying wholly inside the frame", () => {
    const nodes: FlowNode[] = [
      node("in", 120, 150, { width: 240, height: 120 }),
      node("edge", 360, 380, { width: 240, height: 120 }), // touches the bottom right corner exactly
      node("overhang", 400, 150, { width: 240, height: 120 }),
      node("outside", 0, 0, { width: 50, height: 50 }),
      node("unmeasured", 599, 499),
    ];
    expect(insideGroup(frame, nodes).map((n) => n.id)).toEqual(["in", "edge", "unmeasured"]);
  });

  it("never carries groups along", () => {
    expect(insideGroup(frame, [group(150, 150, 10, 10)])).toEqual([]);
  });
});

describe("frameAround", () => {
  it("encloses every node with padding and room for a title", () => {
    const nodes: FlowNode[] = [node("a", 100, 200, { width: 300, height: 150 }), node("b", 500, 50), node("c", -40, 400, { width: 100, height: 100 })];
    const f = frameAround(nodes);
    for (const n of nodes) {
      const w = n.measured?.width ?? 240;
      const h = n.measured?.height ?? 120;
      expect(n.position.x).toBeGreaterThan(f.x);
      expect(n.position.y).toBeGreaterThan(f.y + 28);
      expect(n.position.x + w).toBeLessThan(f.x + f.width);
      expect(n.position.y + h).toBeLessThan(f.y + f.height);
    }
    expect(f).toEqual({ x: -64, y: -2, width: 828, height: 526 });
  });

  it("puts a frame made around nodes exactly around them for insideGroup", () => {
    const nodes = [node("a", 0, 0, { width: 240, height: 120 }), node("b", 400, 300, { width: 240, height: 120 })];
    const f = frameAround(nodes);
    expect(insideGroup(group(f.x, f.y, f.width, f.height), nodes)).toHaveLength(2);
  });
});
