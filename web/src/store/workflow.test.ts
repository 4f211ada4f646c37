// @vitest-environment jsdom
import "../test/jsdom";
import { beforeEach, describe, expect, it } from "vitest";
import type { DiffNode } from "../lib/graph";
import { Reply, serveHttp } from "../test/fakeServer";
import { chain, schemas } from "../test/graphs";
import { storeWith } from "../test/store";
import { refusal } from "./workflow";

const missingLink = { code: "missing_input", message: "samples is required", node: "3", input: "latent" };

beforeEach(() => localStorage.clear());

describe("what a refused queue says", () => {
  const nodes = storeWith(chain(3), schemas).getState().nodes;

  it("problems on drawn nodes are counted and shown there", () => {
    const { byNode, message } = refusal([missingLink, { ...missingLink, node: "2" }], nodes);
    expect(Object.keys(byNode).sort()).toEqual(["2", "3"]);
    expect(message).toBe("not queued: 2 problems, shown on the nodes");
  });

  it("problems no node can show are spelled out in the message", () => {
    const { message } = refusal([{ code: "empty", message: "the workflow has no output node" }], nodes);
    expect(message).toBe("not queued: the workflow has no output node");
  });
});

describe("queueing", () => {
  it("a refused queue puts each problem on its node and says so", async () => {
    serveHttp({ "POST /api/prompt": new Reply(400, { error: "invalid prompt", problems: [missingLink] }) });
    const store = storeWith(chain(3), schemas);
    await store.getState().queue();
    expect(store.getState().problems).toEqual({ "3": [missingLink] });
    expect(store.getState().toast).toEqual({ kind: "error", text: "not queued: 1 problem, shown on the nodes" });
  });

  it("an accepted queue clears the problems and gives seeds set to randomize a new value", async () => {
    serveHttp({ "POST /api/prompt": { prompt_id: "p", number: 7 } });
    const store = storeWith(chain(3), schemas);
    store.setState({ problems: { "3": [missingLink] } });
    store.getState().setNodeUi("2", { seed_control: { seed: "randomize" } });
    const seed = () => (store.getState().nodes.find((n) => n.id === "2") as DiffNode).data.values.seed;
    const before = seed();
    await store.getState().queue();
    expect(store.getState().problems).toEqual({});
    expect(store.getState().toast?.text).toBe("queued job #7");
    expect(seed()).not.toBe(before);
  });
});

describe("opening a PNG rebuilt from A1111 generation settings", () => {
  const rebuilt = (notes: unknown[]) => ({ ...chain(4), meta: { title: "Imported A1111 parameters", import_notes: notes } });
  const png = () => new File([new Uint8Array([137, 80, 78, 71])], "from_a1111.png", { type: "image/png" });

  it("draws the workflow and lists what it does not reproduce", async () => {
    const note = { setting: "Hires upscaler", value: "R-ESRGAN 4x+", note: "not found in models/upscale_models; Lanczos used" };
    serveHttp({ "POST /v1/workflows/import": rebuilt([note]) });
    const store = storeWith(chain(2), schemas);
    await store.getState().openFile(png());
    expect(store.getState().nodes.map((n) => n.id)).toEqual(["1", "2", "3", "4"]);
    expect(store.getState().notes).toEqual(["Hires upscaler: R-ESRGAN 4x+: not found in models/upscale_models; Lanczos used"]);
    expect(store.getState().toast?.text).toBe("rebuilt from_a1111.png from its generation settings; 1 setting not reproduced");
  });

  it("a fully reproduced image shows no notes, and a later file clears old ones", async () => {
    serveHttp({ "POST /v1/workflows/import": rebuilt([]) });
    const store = storeWith(chain(2), schemas);
    store.getState().showNotes(["VAE: x.pt: not among your VAEs"]);
    await store.getState().openFile(png());
    expect(store.getState().notes).toBeNull();
    expect(store.getState().toast?.text).toBe("rebuilt from_a1111.png from its generation settings");
  });
});
