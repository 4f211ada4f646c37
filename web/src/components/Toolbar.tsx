// The bar above the canvas: run, files, edit, view, and what the server says.
import { useStore } from "../store";

function ServerState() {
  const connection = useStore((s) => s.connection);
  const queueRemaining = useStore((s) => s.run.queueRemaining);
  return (
    <span className={`conn conn-${connection}`} data-testid="connection" title={`server connection: ${connection}`}>
      {connection === "open" ? `queue: ${queueRemaining}` : connection}
    </span>
  );
}

export function Toolbar() {
  const name = useStore((s) => s.name);
  const canUndo = useStore((s) => s.canUndo);
  const canRedo = useStore((s) => s.canRedo);
  const dark = useStore((s) => s.dark);
  // Actions never change, so reading them once here costs no re-render.
  const a = useStore.getState();
  const refresh = () => void a.refreshSchemas().then(() => a.say("node lists refreshed"));
  return (
    <header className="toolbar">
      <strong className="brand">diffgraph</strong>
      <button className="primary" data-testid="queue" title="Queue the workflow (Ctrl+Enter)" onClick={() => void a.queue()}>
        Queue
      </button>
      <button data-testid="interrupt" title="Stop the running job" onClick={() => void a.interrupt()}>
        Interrupt
      </button>
      <span className="sep" />
      <button data-testid="workflows" title="Open, save as, import, download" onClick={() => a.openDialog({ focusSave: false })}>
        Workflows…
      </button>
      <button data-testid="save" title="Save to the server (Ctrl+S)" onClick={a.save}>
        Save
      </button>
      <span className="sep" />
      <button title="Undo (Ctrl+Z)" disabled={!canUndo} data-testid="undo" onClick={a.undo}>
        Undo
      </button>
      <button title="Redo (Ctrl+Y)" disabled={!canRedo} data-testid="redo" onClick={a.redo}>
        Redo
      </button>
      <button title="Add a node (double-click the canvas, Ctrl+K or Shift+A)" data-testid="add-node" onClick={() => a.openPalette()}>
        Add node
      </button>
      <button title="Group the selected nodes (Ctrl+G)" onClick={a.groupSelection}>
        Group
      </button>
      <button title="Reload node lists and model choices from the server" onClick={refresh}>
        ↻
      </button>
      <span className="grow" />
      <span className="workflow-name" data-testid="workflow-name">
        {name ?? "unsaved workflow"}
      </span>
      <ServerState />
      <button className="icon" title="Light / dark" onClick={a.toggleTheme}>
        {dark ? "☀" : "☾"}
      </button>
    </header>
  );
}
