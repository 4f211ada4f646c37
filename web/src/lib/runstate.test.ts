import { describe, expect, it } from "vitest";
import type { Message, RunState } from "./runstate";
import { initialRun, previewBlob, reduceRun } from "./runstate";

const GRAPH = ["ckpt", "prompt", "negative", "latent", "sample", "decode", "save"];
const PID = "job-1";
const IMAGE = { filename: "toy_00001_.png", subfolder: "", type: "output" };

const msg = (type: string, data: Record<string, unknown> = {}): Message => ({ type, data: { prompt_id: PID, ...data } });
const run = (messages: Message[], from: RunState = initialRun): RunState =>
  messages.reduce((state, m) => reduceRun(state, m, GRAPH), from);

const started = () => run([msg("execution_start"), msg("execution_cached", { nodes: ["ckpt", "prompt", "negative"] })]);

describe("reduceRun", () => {
  it("reads queue_remaining from status messages", () => {
    const state = run([{ type: "status", data: { status: { exec_info: { queue_remaining: 3 } } } }]);
    expect(state.queueRemaining).toBe(3);
    expect(run([{ type: "status", data: {} }], state).queueRemaining).toBe(3);
  });

  it("queues every graph node on execution_start and adopts the job", () => {
    const state = run([msg("execution_start")]);
    expect(state.promptId).toBe(PID);
    expect(Object.keys(state.nodes).sort()).toEqual([...GRAPH].sort());
    for (const id of GRAPH) expect(state.nodes[id].status).toBe("queued");
  });

  it("marks the listed nodes cached, leaving the others queued", () => {
    const state = started();
    expect(state.nodes.ckpt.status).toBe("cached");
    expect(state.nodes.negative.status).toBe("cached");
    expect(state.nodes.latent.status).toBe("queued");
  });

  it("marks the previous node done when the next one starts executing", () => {
    const state = run([msg("executing", { node: "latent" }), msg("executing", { node: "sample" })], started());
    expect(state.nodes.latent.status).toBe("done");
    expect(state.nodes.sample.status).toBe("running");
    expect(state.running).toBe("sample");
  });

  it("records progress on the node and clears it once the node is done", () => {
    let state = run([msg("executing", { node: "sample" }), msg("progress", { node: "sample", value: 5, max: 20 })], started());
    expect(state.nodes.sample).toMatchObject({ status: "running", progress: { value: 5, max: 20 } });
    state = run([msg("executing", { node: "decode" })], state);
    expect(state.nodes.sample.status).toBe("done");
    expect(state.nodes.sample.progress).toBeUndefined();
  });

  it("attributes progress without a node to the running node", () => {
    const state = run([msg("executing", { node: "sample" }), msg("progress", { value: 2, max: 4 })], started());
    expect(state.nodes.sample.progress).toEqual({ value: 2, max: 4 });
  });

  it("stores the images of executed and keeps a cached node cached", () => {
    const state = run(
      [msg("executing", { node: "save" }), msg("executed", { node: "save", output: { images: [IMAGE] } }),
        msg("executed", { node: "prompt", output: {} })],
      started(),
    );
    expect(state.nodes.save).toMatchObject({ status: "done", images: [IMAGE] });
    expect(state.nodes.prompt.status).toBe("cached");
  });

  it("keeps earlier images while a new run is queued", () => {
    const done = run([msg("executed", { node: "save", output: { images: [IMAGE] } })], started());
    expect(run([msg("execution_start", { prompt_id: "job-2" })], done).nodes.save.images).toEqual([IMAGE]);
  });

  it("on executing null finishes the last node and returns unreached nodes to idle", () => {
    const state = run([msg("executing", { node: "latent" }), msg("executing", { node: null })], started());
    expect(state.running).toBeNull();
    expect(state.nodes.latent.status).toBe("done");
    expect(state.nodes.ckpt.status).toBe("cached");
    for (const id of ["sample", "decode", "save"]) expect(state.nodes[id].status).toBe("idle");
  });

  it("marks the failing node on execution_error with its message", () => {
    const state = run(
      [msg("executing", { node: "sample" }),
        msg("execution_error", { node_id: "sample", exception_type: "RuntimeError", exception_message: "CUDA out of memory" })],
      started(),
    );
    expect(state.nodes.sample).toMatchObject({ status: "error", error: "RuntimeError: CUDA out of memory" });
    expect(state.lastError).toBe("RuntimeError: CUDA out of memory");
    expect(state.running).toBeNull();
    expect(state.nodes.decode.status).toBe("idle");
  });

  it("stops the run on execution_interrupted", () => {
    const state = run([msg("executing", { node: "sample" }), msg("execution_interrupted", { node_id: "sample" })], started());
    expect(state.lastError).toBe("interrupted");
    expect(state.running).toBeNull();
    expect(state.nodes.sample.status).toBe("idle");
    expect(state.nodes.ckpt.status).toBe("cached");
  });

  it("ignores the events of another prompt", () => {
    const before = run([msg("executing", { node: "latent" })], started());
    for (const type of ["execution_cached", "executing", "progress", "executed", "execution_error", "execution_interrupted"]) {
      const other = { type, data: { prompt_id: "someone-else", node: "sample", node_id: "sample", nodes: ["sample"], value: 1, max: 2 } };
      expect(reduceRun(before, other, GRAPH)).toBe(before);
    }
  });

  it("leaves state alone for unknown messages", () => {
    const before = started();
    expect(reduceRun(before, msg("execution_success"), GRAPH)).toBe(before);
  });
});

describe("previewBlob", () => {
  const frame = (event: number, format: number, body: number[]): ArrayBuffer => {
    const buffer = new ArrayBuffer(8 + body.length);
    const view = new DataView(buffer);
    view.setUint32(0, event);
    view.setUint32(4, format);
    new Uint8Array(buffer, 8).set(body);
    return buffer;
  };
  const bytes = async (blob: Blob | null) => [...new Uint8Array(await (blob as Blob).arrayBuffer())];

  it("reads a JPEG preview (format 1) after the 8-byte header", async () => {
    const blob = previewBlob(frame(1, 1, [0xff, 0xd8, 0xff, 0xe0]));
    expect(blob?.type).toBe("image/jpeg");
    expect(await bytes(blob)).toEqual([0xff, 0xd8, 0xff, 0xe0]);
  });

  it("reads a PNG preview (format 2)", async () => {
    const blob = previewBlob(frame(1, 2, [0x89, 0x50, 0x4e, 0x47]));
    expect(blob?.type).toBe("image/png");
    expect(await bytes(blob)).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it("gives null for another event type or a frame shorter than its header", () => {
    expect(previewBlob(frame(2, 1, [1, 2, 3]))).toBeNull();
    expect(previewBlob(new ArrayBuffer(7))).toBeNull();
    expect(previewBlob(new ArrayBuffer(0))).toBeNull();
  });
});
