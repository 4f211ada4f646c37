// @vitest-environment jsdom
// How many nodes a sampler step re-renders: the whole editor (real React Flow, real state)
// on a 30-node graph, fed progress messages and preview frames through its WebSocket.
import "./test/jsdom";
import { ReactFlowProvider } from "@xyflow/react";
import { act, cleanup, render } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Editor } from "./Editor";
import { FakeSocket, installFakeSocket, serveHttp } from "./test/fakeServer";
import { NODE_COUNT, graph30, schemas } from "./test/graph30";

// Every commit in which a node's view rendered, by node id: the real DiffNodeView inside a
// <Profiler>, which reports re-renders however caused (props, context or a store).
const renders = vi.hoisted(() => new Map<string, number>());
vi.mock("./components/DiffNodeView", async (importOriginal) => {
  const real = await importOriginal<typeof import("./components/DiffNodeView")>();
  const { Profiler, createElement } = await import("react");
  const count = (id: string) => renders.set(id, (renders.get(id) ?? 0) + 1);
  return {
    ...real,
    DiffNodeView: (props: Parameters<typeof real.DiffNodeView>[0]) =>
      createElement(Profiler, { id: props.id, onRender: count }, createElement(real.DiffNodeView, props)),
  };
});

const RUNNING = "15";
const PROMPT = "job-1";

async function editorWithGraph() {
  localStorage.setItem("diffgraph.autosave", JSON.stringify({ name: "thirty.json", doc: graph30() }));
  serveHttp({
    "GET /v1/nodes": { nodes: schemas },
    "GET /api/queue": { queue_running: [], queue_pending: [] },
    "GET /api/history": {},
  });
  installFakeSocket();
  const view = render(
    <ReactFlowProvider>
      <Editor />
    </ReactFlowProvider>,
  );
  await vi.waitFor(() => expect(view.container.querySelectorAll("[data-testid=node]")).toHaveLength(NODE_COUNT));
  const socket = FakeSocket.last as FakeSocket;
  await act(async () => socket.onopen?.());
  await act(async () => {
    socket.send({ type: "execution_start", data: { prompt_id: PROMPT } });
    socket.send({ type: "executing", data: { node: RUNNING, prompt_id: PROMPT } });
  });
  await act(async () => new Promise((r) => setTimeout(r, 50))); // let start-up's fetches settle
  return { view, socket };
}

/** Node renders (summed over all nodes) per call of `step`, averaged over `times` calls. */
async function rendersPer(times: number, step: (i: number) => void): Promise<{ total: number; nodes: Set<string> }> {
  renders.clear();
  for (let i = 0; i < times; i++) await act(async () => step(i));
  return { total: [...renders.values()].reduce((a, b) => a + b, 0) / times, nodes: new Set(renders.keys()) };
}

describe("renders per sampler step on a 30-node graph", () => {
  beforeEach(() => localStorage.clear());
  afterEach(cleanup);

  it("prints the figures", async () => {
    const { view, socket } = await editorWithGraph();
    const progress = await rendersPer(20, (i) =>
      socket.send({ type: "progress", data: { value: i + 1, max: 20, node: RUNNING, prompt_id: PROMPT } }),
    );
    const preview = await rendersPer(20, () => socket.sendPreview());
    console.log(
      `node renders per progress message: ${progress.total} (nodes: ${progress.nodes.size}); ` +
        `per preview frame: ${preview.total} (nodes: ${preview.nodes.size})`,
    );
    const bar = view.container.querySelector(`.react-flow__node[data-id='${RUNNING}'] [data-testid=node-progress] div`);
    expect((bar as HTMLElement).style.width).toBe("100%");
    expect(view.container.querySelector(`.react-flow__node[data-id='${RUNNING}'] [data-testid=node-preview]`)).not.toBeNull();
  });
});
