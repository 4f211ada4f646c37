import type { Edge } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import type { DiffNode, GroupNode } from "./graph";
import { freeId, makeEdge, problemsByNode, toDocument, toFlow, withRandomSeeds, wouldCycle } from "./graph";
import type { NodeSchema, Schemas, WorkflowDoc } from "./types";

// No @types/node in this project: load node:fs untyped and give it the two calls we use.
type Fs = { readFileSync(path: string | URL, encoding: "utf8"): string; existsSync(path: string | URL): boolean };
const fsModule = "node:fs";
const fs: Fs = await import(/* @vite-ignore */ fsModule);

const toy = (): WorkflowDoc =>
  JSON.parse(fs.readFileSync(new URL("../../../workflows/toy_txt2img.json", import.meta.url), "utf8"));

// Schemas only decide the order of inputs (tested on its own below); none are needed here.
const schemas: Schemas = {};

/** The toy workflow with everything a round trip must keep: groups, extra ui, doc ui/meta. */
function richToy(): WorkflowDoc {
  const doc = toy();
  doc.nodes.sample.ui = { ...doc.nodes.sample.ui, title: "KSampler", size: [320, 400], seed_control: "randomize" };
  doc.nodes.save.ui = { ...doc.nodes.save.ui, collapsed: true };
  doc.groups = [
    { title: "Prompts", bounding: [400, 20, 400, 520], color: "#335", locked: false },
    { title: "Output", bounding: [1220, 150, 520, 300] },
  ];
  doc.ui = { viewport: { x: -10, y: 5, zoom: 0.8 } };
  doc.meta = { ...doc.meta, author: "tests" };
  return doc;
}

const withoutPositions = (doc: WorkflowDoc): WorkflowDoc => {
  for (const node of Object.values(doc.nodes)) delete node.ui;
  return doc;
};

describe("toFlow / toDocument", () => {
  it("round-trips the toy txt2img workflow to an equal document", () => {
    const doc = richToy();
    const { nodes, edges } = toFlow(doc);
    expect(toDocument(nodes, edges, schemas, doc)).toEqual(doc);
  });

  it("round-trips the plain file unchanged as well", () => {
    const { nodes, edges } = toFlow(toy());
    expect(toDocument(nodes, edges, schemas, toy())).toEqual(toy());
  });

  it("draws each link as an edge with id target.input", () => {
    const { edges } = toFlow(toy());
    expect(edges).toHaveLength(9);
    expect(edges).toContainEqual({ id: "sample.latent_image", source: "latent", sourceHandle: "latent", target: "sample", targetHandle: "latent_image" });
    expect(edges.map((e) => e.id)).toContain("decode.vae");
    expect(new Set(edges.map((e) => e.id)).size).toBe(edges.length);
  });

  it("keeps literals as node values, titles and extra ui as data, groups as group nodes", () => {
    const { nodes } = toFlow(richToy());
    const sample = nodes.find((n) => n.id === "sample") as DiffNode;
    expect(sample.position).toEqual({ x: 860, y: 200 });
    expect(sample.data.nodeType).toBe("sd.sample");
    expect(sample.data.values).toEqual({ seed: 1, steps: 20, cfg: 7, sampler_name: "euler", scheduler: "normal", denoise: 1 });
    expect(sample.data.title).toBe("KSampler");
    expect(sample.data.ui).toEqual({ size: [320, 400], seed_control: "randomize" });
    const group = nodes.find((n) => n.id === "group:0") as GroupNode;
    expect(group).toMatchObject({ type: "group", position: { x: 400, y: 20 }, width: 400, height: 520 });
    expect(group.data).toEqual({ title: "Prompts", extra: { color: "#335", locked: false } });
  });

  it("writes inputs in the schema's order, then inputs the schema does not know", () => {
    const schema = { inputs: [{ name: "b" }, { name: "a" }] } as unknown as NodeSchema;
    const doc: WorkflowDoc = {
      format: "diffgraph.workflow", version: 1, groups: [], ui: {}, meta: {},
      nodes: { src: { type: "t", inputs: {} }, n: { type: "t", inputs: { z: 1, a: { node: "src", output: "o" }, b: 2 } } },
    };
    const { nodes, edges } = toFlow(doc);
    const out = toDocument(nodes, edges, { t: schema }, doc);
    expect(Object.keys(out.nodes.n.inputs)).toEqual(["b", "a", "z"]);
  });
});

describe("automatic layout", () => {
  const placed = () => {
    const doc = withoutPositions(toy());
    return { doc, pos: Object.fromEntries(toFlow(doc).nodes.map((n) => [n.id, n.position])) };
  };

  it("puts sources in the first column and each dependant right of its inputs", () => {
    const { doc, pos } = placed();
    expect(pos.ckpt.x).toBe(pos.latent.x);
    for (const n of Object.values(pos)) expect(n.x).toBeGreaterThanOrEqual(pos.ckpt.x);
    for (const edge of toFlow(doc).edges) expect(pos[edge.source].x).toBeLessThan(pos[edge.target].x);
    expect(pos.prompt.x).toBe(pos.negative.x);
  });

  it("places no two nodes on the same spot", () => {
    const { pos } = placed();
    const spots = Object.values(pos).map((p) => `${p.x},${p.y}`);
    expect(new Set(spots).size).toBe(spots.length);
  });

  it("survives a cycle and a dangling link", () => {
    const doc = withoutPositions(toy());
    doc.nodes.ckpt.inputs.loop = { node: "save", output: "x" };
    doc.nodes.latent.inputs.ghost = { node: "missing", output: "x" };
    const { nodes } = toFlow(doc);
    expect(nodes).toHaveLength(7);
    for (const n of nodes) expect(Number.isFinite(n.position.x) && Number.isFinite(n.position.y)).toBe(true);
  });
});

describe("freeId", () => {
  it("gives the next integer after the highest numeric id", () => {
    expect(freeId([])).toBe("1");
    expect(freeId(["1", "2", "3"])).toBe("4");
    expect(freeId(["7", "2"])).toBe("8");
  });

  it("ignores non-numeric ids and never returns a taken one", () => {
    expect(freeId(["ckpt", "sample"])).toBe("1");
    expect(freeId(["ckpt", "1"])).toBe("2");
    const taken = ["1", "2", "x", "10"];
    expect(taken).not.toContain(freeId(taken));
  });
});

describe("wouldCycle", () => {
  const edges: Edge[] = [makeEdge("a", "out", "b", "in"), makeEdge("b", "out", "c", "in")];

  it("refuses a self loop", () => {
    expect(wouldCycle([], "a", "a")).toBe(true);
  });

  it("refuses closing a three-node cycle", () => {
    expect(wouldCycle(edges, "c", "a")).toBe(true);
    expect(wouldCycle(edges, "b", "a")).toBe(true);
  });

  it("allows a legal edge, even one parallel to a path", () => {
    expect(wouldCycle(edges, "a", "c")).toBe(false);
    expect(wouldCycle(edges, "c", "d")).toBe(false);
    expect(wouldCycle(edges, "d", "a")).toBe(false);
  });
});

describe("problems and seeds", () => {
  const { nodes } = toFlow(toy());

  it("puts each problem on its node, the rest in general", () => {
    const { byNode, general } = problemsByNode(
      [
        { code: "missing_link", message: "samples needs a link", node: "decode", input: "samples" },
        { code: "no_output_node", message: "nothing to run" },
        { code: "unknown_node", message: "gone", node: "elsewhere" },
      ],
      nodes,
    );
    expect(Object.keys(byNode)).toEqual(["decode"]);
    expect(byNode.decode[0].input).toBe("samples");
    expect(general).toEqual(["nothing to run", "gone"]);
  });

  it("randomizes only the seeds set to randomize after queue", () => {
    const seed = { name: "seed", type: "INT", kind: "widget", required: false, min: 0, max: 1000, randomize: true };
    const sampleSchema = { inputs: [seed], outputs: [] } as unknown as NodeSchema;
    const marked = nodes.map((n) =>
      n.id === "sample" && n.type === "diff" ? { ...n, data: { ...n.data, ui: { seed_control: { seed: "randomize" } } } } : n,
    );
    const after = withRandomSeeds(marked, { "sd.sample": sampleSchema }, () => 0.5);
    const sample = after.find((n) => n.id === "sample") as DiffNode;
    expect(sample.data.values.seed).toBe(500);
    expect(after.filter((n) => n.id !== "sample")).toEqual(marked.filter((n) => n.id !== "sample"));
    expect(withRandomSeeds(nodes, { "sd.sample": sampleSchema })).toEqual(nodes); // "fixed" stays
  });
});
