// @vitest-environment jsdom
import "../test/jsdom";
import { beforeEach, describe, expect, it } from "vitest";
import type { Message } from "../lib/runstate";
import { serveHttp } from "../test/fakeServer";
import { chain, schemas } from "../test/graphs";
import { storeWith } from "../test/store";
import { changesJobs, outputImages } from "./run";

const job = "job-1";
const start: Message = { type: "execution_start", data: { prompt_id: job } };
const executing = (node: string): Message => ({ type: "executing", data: { node, prompt_id: job } });
const progress = (node: string, value: number): Message => ({ type: "progress", data: { node, value, max: 20, prompt_id: job } });
const image = (filename: string, type: string) => ({ filename, subfolder: "", type });

beforeEach(() => {
  localStorage.clear();
  serveHttp({ "GET /api/queue": { queue_running: [], queue_pending: [] }, "GET /api/history": {} });
});

describe("the run as the socket reports it", () => {
  it("a sampler step changes the running node's entry and leaves every other entry as it was", () => {
    const store = storeWith(chain(5), schemas);
    const { receive } = store.getState();
    receive(start);
    receive(executing("3"));
    const before = store.getState().run.nodes;
    receive(progress("3", 4));
    const after = store.getState().run.nodes;
    expect(after["3"]).toEqual({ status: "running", progress: { value: 4, max: 20 } });
    for (const id of ["1", "2", "4", "5"]) expect(after[id]).toBe(before[id]);
  });

  it("a finished node's saved images join the gallery; temporary ones do not", () => {
    const store = storeWith(chain(3), schemas);
    const output = { images: [image("a.png", "output"), image("t.png", "temp")] };
    store.getState().receive({ type: "executed", data: { node: "3", output, prompt_id: job } });
    expect(store.getState().gallery).toEqual([image("a.png", "output")]);
  });

  it("a new preview frame replaces the previous one", () => {
    const store = storeWith(chain(3), schemas);
    store.getState().receivePreview(new Blob(["a"]));
    const first = store.getState().preview;
    store.getState().receivePreview(new Blob(["b"]));
    expect(store.getState().preview).not.toBe(first);
  });

  it("opening another workflow forgets the run but keeps the server's queue length", () => {
    const store = storeWith(chain(3), schemas);
    store.getState().receive({ type: "status", data: { status: { exec_info: { queue_remaining: 2 } } } });
    store.getState().receive(start);
    store.getState().openDoc(chain(4), null);
    expect(store.getState().run).toMatchObject({ nodes: {}, promptId: null, queueRemaining: 2 });
  });
});

describe("which messages matter beyond the nodes", () => {
  it("only saved images are kept from a finished node", () => {
    const output = { images: [image("a.png", "output"), image("p.png", "temp")] };
    expect(outputImages({ type: "executed", data: { node: "3", output } })).toEqual([image("a.png", "output")]);
    expect(outputImages(progress("3", 1))).toEqual([]);
  });

  it("a sampler step or a node starting does not change the queue lists; the rest may", () => {
    expect(changesJobs(progress("3", 1))).toBe(false);
    expect(changesJobs(executing("3"))).toBe(false);
    expect(changesJobs({ type: "status", data: {} })).toBe(true);
    expect(changesJobs({ type: "execution_success", data: {} })).toBe(true);
  });
});
