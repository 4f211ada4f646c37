import { describe, expect, it } from "vitest";
import type { NodeChange } from "@xyflow/react";
import { toFlow, type DiffNode, type FlowNode } from "../lib/graph";
import { chain, schemas } from "../test/graphs";
import { edgeChangesSettle, newNode, nodeChangesSettle, withNodeUi, withTitle, withValue } from "./graph";

const drawn = () => toFlow(chain(3)).nodes;
const sampler = (nodes: FlowNode[]) => nodes.find((n) => n.id === "2") as DiffNode;

describe("node edits", () => {
  it("a widget value changes on its node only, others keep their identity", () => {
    const before = drawn();
    const after = withValue(before, "2", "steps", 30);
    expect(sampler(after).data.values.steps).toBe(30);
    expect(sampler(before).data.values.steps).toBe(20);
    expect(after.filter((n) => n.id !== "2")).toEqual(before.filter((n) => n.id !== "2"));
    expect(after[0]).toBe(before[0]);
  });

  it("ui settings merge into the node's ui (the seed control sits there)", () => {
    const after = withNodeUi(drawn(), "2", { seed_control: { seed: "randomize" } });
    expect(sampler(after).data.ui).toEqual({ seed_control: { seed: "randomize" } });
  });

  it("a renamed node shows its new title, and clearing the name gives back the schema's", () => {
    const renamed = withTitle(drawn(), "2", "Hires pass");
    expect(sampler(renamed).data.title).toBe("Hires pass");
    expect("title" in sampler(withTitle(renamed, "2", undefined)).data).toBe(false);
  });
});

describe("a node from the palette", () => {
  it("has each widget's default, is selected, and sits where it was asked", () => {
    const node = newNode(schemas["test.sample"], "7", { x: 10, y: 20 });
    expect(node).toMatchObject({ id: "7", type: "diff", position: { x: 10, y: 20 }, selected: true });
    expect(node.data.values).toEqual({ seed: 0, steps: 20, cfg: 7, sampler: "euler", text: "" });
  });

  it("randomizes its seeds after each queue, as in ComfyUI", () => {
    expect(newNode(schemas["test.sample"], "7", { x: 0, y: 0 }).data.ui).toEqual({ seed_control: { seed: "randomize" } });
    expect(newNode(schemas["test.load"], "8", { x: 0, y: 0 }).data.ui).toEqual({});
  });
});

describe("which changes make an undo step", () => {
  const move = (dragging: boolean): NodeChange<FlowNode> => ({ type: "position", id: "2", position: { x: 1, y: 1 }, dragging });

  it("the end of a drag does, each step of it does not", () => {
    expect(nodeChangesSettle([move(true)])).toBe(false);
    expect(nodeChangesSettle([move(false)])).toBe(true);
  });

  it("removing a node does, selecting one does not", () => {
    expect(nodeChangesSettle([{ type: "remove", id: "2" }])).toBe(true);
    expect(nodeChangesSettle([{ type: "select", id: "2", selected: true }])).toBe(false);
  });

  it("removing a link does, selecting one does not", () => {
    expect(edgeChangesSettle([{ type: "remove", id: "3.latent" }])).toBe(true);
    expect(edgeChangesSettle([{ type: "select", id: "3.latent", selected: true }])).toBe(false);
  });
});
