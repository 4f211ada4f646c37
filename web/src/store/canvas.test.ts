import { describe, expect, it } from "vitest";
import { toFlow } from "../lib/graph";
import { chain, schemas } from "../test/graphs";
import { carried, portType } from "./canvas";

describe("port types", () => {
  const nodes = toFlow(chain(3)).nodes;

  it("are read from the node's schema, outputs and inputs apart", () => {
    expect(portType(nodes, schemas, "1", "latent", true)).toBe("LATENT");
    expect(portType(nodes, schemas, "2", "steps", false)).toBe("INT");
  });

  it("are unknown for a missing node or port", () => {
    expect(portType(nodes, schemas, "9", "latent", true)).toBeUndefined();
    expect(portType(nodes, schemas, "1", "image", true)).toBeUndefined();
  });
});

describe("dragging a group", () => {
  it("moves its members by as much as the frame moved, and nothing else", () => {
    const nodes = toFlow(chain(3)).nodes.map((n, i) => ({ ...n, position: { x: 100 * i, y: 0 } }));
    const members = new Map([["2", { x: 100, y: 0 }]]);
    const moved = carried(nodes, members, { x: 50, y: -20 }, { x: 80, y: 20 });
    expect(moved.map((n) => n.position)).toEqual([
      { x: 0, y: 0 },
      { x: 130, y: 40 },
      { x: 200, y: 0 },
    ]);
  });
});
