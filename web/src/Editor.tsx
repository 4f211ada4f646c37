// The editor: the canvas with its nodes and edges, the toolbar, the side panel, dialogs.
// The graph lives in React Flow's node/edge state; the document is derived from it when it
// is queued, saved or downloaded.
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type XYPosition,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { DiffNodeView } from "./components/DiffNodeView";
import { GroupNodeView } from "./components/GroupNodeView";
import { Palette } from "./components/Palette";
import { SidePanel } from "./components/SidePanel";
import { Toolbar } from "./components/Toolbar";
import { WorkflowDialog } from "./components/WorkflowDialog";
import { ApiError, api } from "./lib/api";
import { copySelection, pasteClip, type Clip } from "./lib/clipboard";
import { EditorContext, type EditorContextValue } from "./lib/editor";
import { freeId, problemsByNode, toDocument, toFlow, withRandomSeeds, type FlowNode } from "./lib/graph";
import { portColor } from "./lib/ports";
import { initialRun, reduceRun, type Message, type RunState } from "./lib/runstate";
import { sameSnapshot, snapshot, type Snapshot } from "./lib/snapshot";
import { clientId, useSocket } from "./lib/socket";
import type { ImageRef, Literal, Problem, Schemas, WorkflowDoc } from "./lib/types";
import { History } from "./lib/undo";
import { defaultValue } from "./lib/widgets";
import type { GraphApi } from "./hooks/graphApi";
import { useConnections } from "./hooks/useConnections";
import { useGroups } from "./hooks/useGroups";
import { initialDark, useToast } from "./hooks/useToast";
import { useWorkflowFiles } from "./hooks/useWorkflowFiles";
import { useShortcuts } from "./useShortcuts";

const AUTOSAVE = "diffgraph.autosave";
const nodeTypes = { diff: DiffNodeView, group: GroupNodeView };


export function Editor() {
  const flow = useReactFlow<FlowNode, Edge>();
  const [schemas, setSchemas] = useState<Schemas>({});
  const [nodes, setNodes, applyNodeChanges] = useNodesState<FlowNode>([]);
  const [edges, setEdges, applyEdgeChanges] = useEdgesState<Edge>([]);
  const [base, setBase] = useState<Pick<WorkflowDoc, "ui" | "meta">>({ ui: {}, meta: {} });
  const [name, setName] = useState<string | null>(null);
  const [run, setRun] = useState<RunState>(initialRun);
  const [preview, setPreview] = useState<string | null>(null);
  const [problems, setProblems] = useState<Record<string, Problem[]>>({});
  const { toast, say, sayError } = useToast();
  const [palette, setPalette] = useState<XYPosition | null>(null);
  const [dialog, setDialog] = useState<{ focusSave: boolean } | null>(null);
  const [tick, setTick] = useState(0);
  const [gallery, setGallery] = useState<ImageRef[]>([]);
  const [lightbox, setLightbox] = useState<string | null>(null);
  const [dark, setDark] = useState(initialDark);
  const id = useMemo(clientId, []);
  const latest = useRef({ nodes, edges, schemas, base, name });
  latest.current = { nodes, edges, schemas, base, name };
  const history = useRef(new History<Snapshot>(sameSnapshot));
  const commitTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const clip = useRef<Clip | null>(null);


  const currentDoc = useCallback((): WorkflowDoc => {
    const { nodes, edges, schemas, base } = latest.current;
    return toDocument(nodes, edges, schemas, base);
  }, []);

  const graph: GraphApi = useMemo(
    () => ({ latest, setNodes, setEdges, commit: (delay?: number) => scheduleCommitRef.current(delay), say, sayError }),
    [setNodes, setEdges, say, sayError],
  );
  const { isValidConnection, onConnect, onConnectEnd } = useConnections(graph);
  const { onNodeDragStart, onNodeDrag, onNodeDragStop, groupSelection } = useGroups(graph);

  // -- history and autosave --------------------------------------------------------------
  const commitNow = useCallback(() => {
    clearTimeout(commitTimer.current);
    const { nodes, edges, name } = latest.current;
    if (history.current.commit(snapshot(nodes, edges))) {
      localStorage.setItem(AUTOSAVE, JSON.stringify({ name, doc: currentDoc() }));
    }
  }, [currentDoc]);
  const scheduleCommit = useCallback(
    (delay = 0) => {
      clearTimeout(commitTimer.current);
      commitTimer.current = setTimeout(commitNow, delay);
    },
    [commitNow],
  );
  const scheduleCommitRef = useRef(scheduleCommit);
  scheduleCommitRef.current = scheduleCommit;
  const restore = useCallback(
    (state: Snapshot | undefined) => {
      if (!state) return;
      setNodes(structuredClone(state.nodes));
      setEdges(structuredClone(state.edges));
    },
    [setNodes, setEdges],
  );
  const undo = useCallback(() => {
    commitNow();
    restore(history.current.undo());
  }, [commitNow, restore]);
  const redo = useCallback(() => {
    commitNow();
    restore(history.current.redo());
  }, [commitNow, restore]);

  // -- opening ---------------------------------------------------------------------------
  const openDoc = useCallback(
    (doc: WorkflowDoc, newName: string | null) => {
      const graph = toFlow(doc);
      setNodes(graph.nodes);
      setEdges(graph.edges);
      setBase({ ui: doc.ui ?? {}, meta: doc.meta ?? {} });
      setName(newName);
      setProblems({});
      setRun((r) => ({ ...initialRun, queueRemaining: r.queueRemaining }));
      history.current.reset(snapshot(graph.nodes, graph.edges));
      localStorage.setItem(AUTOSAVE, JSON.stringify({ name: newName, doc }));
      setTimeout(() => flow.fitView({ padding: 0.12 }), 60);
    },
    [flow, setNodes, setEdges],
  );
  const { openFromServer, openFile, openPrompt, saveAs, save, download } = useWorkflowFiles(graph, {
    openDoc,
    currentDoc,
    commitNow,
    setName,
    setDialog,
  });

  const refreshSchemas = useCallback(() => api.nodes().then(setSchemas, (e: Error) => sayError(e.message)), [sayError]);
  useEffect(() => {
    (async () => {
      setSchemas(await api.nodes());
      const saved = localStorage.getItem(AUTOSAVE);
      if (saved) {
        const { doc, name } = JSON.parse(saved) as { doc: WorkflowDoc; name: string | null };
        openDoc(doc, name);
        return;
      }
      const list = await api.workflows();
      const first = list.find((w) => w.default) ?? list[0];
      if (first) await openFromServer(first.source, first.name);
    })().catch((e: Error) => sayError(`cannot reach the server: ${e.message}`));
    const onFocus = () => void refreshSchemas(); // e.g. a checkpoint file was added
    window.addEventListener("focus", onFocus);
    return () => window.removeEventListener("focus", onFocus);
  }, []);

  // -- running ---------------------------------------------------------------------------
  const randomizeSeeds = useCallback(
    () => setNodes((all) => withRandomSeeds(all, latest.current.schemas)),
    [setNodes],
  );
  const queue = useCallback(async () => {
    commitNow();
    try {
      const queued = await api.queuePrompt(currentDoc(), id);
      setProblems({});
      say(`queued job #${queued.number}`);
      randomizeSeeds();
      scheduleCommit(0);
    } catch (e) {
      const body = e instanceof ApiError ? (e.body as { problems?: Problem[] }) : undefined;
      if (!body?.problems) return sayError(`not queued: ${(e as Error).message}`);
      const { byNode, general } = problemsByNode(body.problems, latest.current.nodes);
      setProblems(byNode);
      const count = body.problems.length;
      sayError(general.length ? `not queued: ${general.join("; ")}` : `not queued: ${count} problem${count > 1 ? "s" : ""}, shown on the nodes`);
    }
  }, [commitNow, currentDoc, id, randomizeSeeds, say, sayError, scheduleCommit]);
  const interrupt = useCallback(() => api.interrupt().catch((e: Error) => sayError(e.message)), [sayError]);

  const onMessage = useCallback((message: Message) => {
    const ids = latest.current.nodes.filter((n) => n.type === "diff").map((n) => n.id);
    setRun((r) => reduceRun(r, message, ids));
    if (message.type === "executed") {
      const images = (message.data.output as { images?: ImageRef[] })?.images ?? [];
      setGallery((g) => [...g, ...images.filter((i) => i.type === "output")]);
    }
    if (message.type !== "progress" && message.type !== "executing") setTick((t) => t + 1);
  }, []);
  const onPreview = useCallback((image: Blob) => {
    setPreview((old) => {
      if (old) URL.revokeObjectURL(old);
      return URL.createObjectURL(image);
    });
  }, []);
  const connection = useSocket(id, onMessage, onPreview);

  // -- editing ---------------------------------------------------------------------------
  const patchNode = useCallback(
    (node: string, patch: (data: FlowNode["data"]) => FlowNode["data"]) =>
      setNodes((all) => all.map((n) => (n.id === node ? ({ ...n, data: patch(n.data) } as FlowNode) : n))),
    [setNodes],
  );
  const context: EditorContextValue = useMemo(
    () => ({
      schemas,
      run,
      preview,
      problems,
      setValue: (node: string, input: string, value: Literal, settled = true) => {
        patchNode(node, (d) => ({ ...d, values: { ...(d.values as object), [input]: value } }));
        scheduleCommit(settled ? 0 : 600);
      },
      setNodeUi: (node: string, patch: Record<string, unknown>) => {
        patchNode(node, (d) => ({ ...d, ui: { ...(d.ui as object), ...patch } }));
        scheduleCommit(0);
      },
      setTitle: (node: string, title: string | undefined) => {
        patchNode(node, (d) => {
          const { title: _old, ...rest } = d as Record<string, unknown>;
          return (title === undefined ? rest : { ...rest, title }) as FlowNode["data"];
        });
        scheduleCommit(0);
      },
      showImage: setLightbox,
    }),
    [schemas, run, preview, problems, patchNode, scheduleCommit],
  );

  const addNode = useCallback(
    (type: string, at: XYPosition) => {
      const schema = latest.current.schemas[type];
      if (!schema) return;
      const values: Record<string, Literal> = {};
      const seedControl: Record<string, string> = {};
      for (const spec of schema.inputs) {
        if (spec.kind !== "widget") continue;
        values[spec.name] = defaultValue(spec);
        if (spec.randomize) seedControl[spec.name] = "randomize"; // new seeds vary, as in ComfyUI
      }
      const ui = Object.keys(seedControl).length ? { seed_control: seedControl } : {};
      const nodeId = freeId(latest.current.nodes.map((n) => n.id));
      const node: FlowNode = { id: nodeId, type: "diff", position: at, selected: true, data: { nodeType: type, values, ui } };
      setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), node]);
      setPalette(null);
      scheduleCommit(0);
    },
    [setNodes, scheduleCommit],
  );
  const openPalette = useCallback(
    (at?: XYPosition) => {
      void refreshSchemas();
      const box = document.querySelector(".react-flow")?.getBoundingClientRect();
      const centre = box ? { x: box.left + box.width / 2, y: box.top + box.height / 2 } : { x: 400, y: 300 };
      setPalette(flow.screenToFlowPosition(at ?? centre));
    },
    [flow, refreshSchemas],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      applyNodeChanges(changes);
      const settled = changes.some(
        (c) => c.type === "remove" || c.type === "add" || c.type === "replace" || (c.type === "position" && c.dragging === false) || (c.type === "dimensions" && c.resizing === false),
      );
      if (settled) scheduleCommit(0);
    },
    [applyNodeChanges, scheduleCommit],
  );
  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      applyEdgeChanges(changes);
      if (changes.some((c) => c.type === "remove" || c.type === "add")) scheduleCommit(0);
    },
    [applyEdgeChanges, scheduleCommit],
  );

  const copy = useCallback(() => {
    clip.current = copySelection(latest.current.nodes, latest.current.edges);
    if (clip.current) say(`copied ${clip.current.nodes.length} node(s)`);
  }, [say]);
  const paste = useCallback(() => {
    if (!clip.current) return;
    const pasted = pasteClip(clip.current, latest.current.nodes);
    clip.current = { nodes: pasted.nodes, edges: pasted.edges }; // the next paste lands further on
    setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), ...pasted.nodes]);
    setEdges((all) => [...all, ...pasted.edges]);
    scheduleCommit(0);
  }, [setNodes, setEdges, scheduleCommit]);
  const selectAll = useCallback(() => setNodes((all) => all.map((n) => ({ ...n, selected: true }))), [setNodes]);

  useShortcuts({ queue, save, undo, redo, copy, paste, group: groupSelection, selectAll, palette: () => openPalette() });

  const styledEdges = useMemo(() => {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    return edges.map((e) => {
      const source = byId.get(e.source);
      const type = source?.type === "diff" ? schemas[source.data.nodeType]?.outputs.find((o) => o.name === e.sourceHandle)?.type : undefined;
      return { ...e, style: { stroke: type ? portColor(type) : "#999", strokeWidth: 2 } };
    });
  }, [nodes, edges, schemas]);

  return (
    <EditorContext.Provider value={context}>
      <div className={`app ${dark ? "dark" : "light"}`} data-theme={dark ? "dark" : "light"}>
        <Toolbar
          name={name}
          connection={connection}
          queueRemaining={run.queueRemaining}
          canUndo={history.current.canUndo}
          canRedo={history.current.canRedo}
          dark={dark}
          onQueue={queue}
          onInterrupt={interrupt}
          onWorkflows={() => setDialog({ focusSave: false })}
          onSave={save}
          onUndo={undo}
          onRedo={redo}
          onAdd={() => openPalette()}
          onGroup={groupSelection}
          onRefresh={() => void refreshSchemas().then(() => say("node lists refreshed"))}
          onTheme={() => {
            localStorage.setItem("diffgraph.theme", dark ? "light" : "dark");
            setDark(!dark);
          }}
        />
        <main
          className="canvas"
          onDoubleClick={(e) => (e.target as Element).classList.contains("react-flow__pane") && openPalette({ x: e.clientX, y: e.clientY })}
          onDragOver={(e) => e.preventDefault()}
          onDrop={(e) => {
            e.preventDefault();
            const file = e.dataTransfer.files[0];
            if (file) void openFile(file);
          }}
        >
          <ReactFlow<FlowNode, Edge>
            nodes={nodes}
            edges={styledEdges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onConnectEnd={onConnectEnd}
            isValidConnection={isValidConnection}
            onNodeDragStart={onNodeDragStart}
            onNodeDrag={onNodeDrag}
            onNodeDragStop={onNodeDragStop}
            deleteKeyCode={["Delete", "Backspace"]}
            multiSelectionKeyCode={["Control", "Meta", "Shift"]}
            zoomOnDoubleClick={false}
            colorMode={dark ? "dark" : "light"}
            minZoom={0.1}
            fitView
          >
            <Background gap={20} />
            <Controls />
            <MiniMap pannable zoomable />
          </ReactFlow>
        </main>
        <SidePanel tick={tick} gallery={gallery} onOpen={openPrompt} onShow={setLightbox} onError={sayError} />
        {palette && <Palette schemas={schemas} onPick={(type) => addNode(type, palette)} onClose={() => setPalette(null)} />}
        {dialog && (
          <WorkflowDialog
            current={name}
            focusSave={dialog.focusSave}
            onOpen={openFromServer}
            onSaveAs={saveAs}
            onFile={openFile}
            onDownload={download}
            onClose={() => setDialog(null)}
            onError={sayError}
          />
        )}
        {lightbox && (
          <div className="overlay" onClick={() => setLightbox(null)}>
            <img className="lightbox" src={lightbox} alt="output" />
          </div>
        )}
        {toast && (
          <div className={`toast ${toast.kind}`} data-testid="toast" role="status">
            {toast.text}
          </div>
        )}
      </div>
    </EditorContext.Provider>
  );
}
