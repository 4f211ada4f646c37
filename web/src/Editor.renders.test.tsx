// @vitest-environment jsdom
// What a sampler step costs: the whole editor (real React Flow, real store) on a 30-node
// graph, fed progress messages and latent-preview frames through its WebSocket, counting
// how many node views render per message.
//
// Before the store (state in Editor.tsx, run and preview in one React context) every
// message re-rendered all 30 nodes: 30 node renders per progress message and 30 per
// preview frame, 60 per sampler step (measured by this test at commit 1dd7d16). Now
// only the running node renders: 1 and 1.
import "./test/jsdom";
import { ReactFlowProvider } from "@xyflow/react";
import { act, cleanup, render } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Editor } from "./Editor";
import { useStore } from "./store";
import { FakeSocket, installFakeSocket, serveHttp } from "./test/fakeServer";
import { chain, schemas } from "./test/graphs";

// Every commit in which a node's view rendered, by node id: the real DiffNodeView inside a
// <Profiler>, which reports a render however caused (props, context or a store).
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

const NODES = 30;
const RUNNING = "15";
const JOB = "job-1";
const STEPS = 20;

/** The editor with the 30-node graph open (as autosaved), a job started, node 15 running. */
async function editorRunningNode15() {
  localStorage.setItem("diffgraph.autosave", JSON.stringify({ name: "thirty.json", doc: chain(NODES) }));
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
  await vi.waitFor(() => expect(view.container.querySelectorAll("[data-testid=node]")).toHaveLength(NODES));
  const socket = FakeSocket.last as FakeSocket;
  await act(async () => socket.onopen?.());
  await act(async () => {
    socket.send({ type: "execution_start", data: { prompt_id: JOB } });
    socket.send({ type: "executing", data: { node: RUNNING, prompt_id: JOB } });
  });
  await act(() => new Promise((settled) => setTimeout(settled, 100))); // start-up's replies, fit view
  const inNode = (selector: string) => view.container.querySelector(`.react-flow__node[data-id='${RUNNING}'] ${selector}`);
  return { socket, inNode };
}

/** Node renders per call of `send`, and which nodes rendered at all. */
async function rendersPer(send: (step: number) => void) {
  renders.clear();
  for (let step = 1; step <= STEPS; step++) await act(async () => send(step));
  const total = [...renders.values()].reduce((a, b) => a + b, 0);
  return { perMessage: total / STEPS, nodes: [...renders.keys()] };
}

describe(`a sampler step on a ${NODES}-node graph`, () => {
  beforeEach(() => {
    localStorage.clear();
    useStore.setState(useStore.getInitialState(), true);
  });
  afterEach(cleanup);

  it("a progress message re-renders only the running node, whose bar advances", async () => {
    const { socket, inNode } = await editorRunningNode15();
    const measured = await rendersPer((value) =>
      socket.send({ type: "progress", data: { value, max: STEPS, node: RUNNING, prompt_id: JOB } }),
    );
    console.log(`node renders per progress message: ${measured.perMessage} (nodes rendered: ${measured.nodes.length})`);
    expect(measured.perMessage).toBeLessThanOrEqual(1);
    expect(measured.nodes).toEqual([RUNNING]);
    expect((inNode("[data-testid=node-progress] div") as HTMLElement).style.width).toBe("100%");
  });

  it("a preview frame re-renders only the running node, which shows it", async () => {
    const { socket, inNode } = await editorRunningNode15();
    const measured = await rendersPer(() => socket.sendPreview());
    console.log(`node renders per preview frame: ${measured.perMessage} (nodes rendered: ${measured.nodes.length})`);
    expect(measured.perMessage).toBeLessThanOrEqual(1);
    expect(measured.nodes).toEqual([RUNNING]);
    expect(inNode("[data-testid=node-preview]")).not.toBeNull();
  });
});
