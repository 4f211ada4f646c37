// The bar above the canvas: run, files, edit, view, and what the server says.
import type { Connection } from "../lib/socket";

interface Props {
  name: string | null;
  connection: Connection;
  queueRemaining: number;
  canUndo: boolean;
  canRedo: boolean;
  dark: boolean;
  onQueue: () => void;
  onInterrupt: () => void;
  onWorkflows: () => void;
  onSave: () => void;
  onUndo: () => void;
  onRedo: () => void;
  onAdd: () => void;
  onGroup: () => void;
  onRefresh: () => void;
  onTheme: () => void;
}

export function Toolbar(p: Props) {
  return (
    <header className="toolbar">
      <strong className="brand">diffgraph</strong>
      <button className="primary" data-testid="queue" title="Queue the workflow (Ctrl+Enter)" onClick={p.onQueue}>
        Queue
      </button>
      <button data-testid="interrupt" title="Stop the running job" onClick={p.onInterrupt}>
        Interrupt
      </button>
      <span className="sep" />
      <button data-testid="workflows" title="Open, save as, import, download" onClick={p.onWorkflows}>
        Workflows…
      </button>
      <button data-testid="save" title="Save to the server (Ctrl+S)" onClick={p.onSave}>
        Save
      </button>
      <span className="sep" />
      <button title="Undo (Ctrl+Z)" disabled={!p.canUndo} data-testid="undo" onClick={p.onUndo}>
        Undo
      </button>
      <button title="Redo (Ctrl+Y)" disabled={!p.canRedo} data-testid="redo" onClick={p.onRedo}>
        Redo
      </button>
      <button title="Add a node (double-click the canvas, Ctrl+K or Shift+A)" data-testid="add-node" onClick={p.onAdd}>
        Add node
      </button>
      <button title="Group the selected nodes (Ctrl+G)" onClick={p.onGroup}>
        Group
      </button>
      <button title="Reload node lists and model choices from the server" onClick={p.onRefresh}>
        ↻
      </button>
      <span className="grow" />
      <span className="workflow-name" data-testid="workflow-name">
        {p.name ?? "unsaved workflow"}
      </span>
      <span className={`conn conn-${p.connection}`} data-testid="connection" title={`server connection: ${p.connection}`}>
        {p.connection === "open" ? `queue: ${p.queueRemaining}` : p.connection}
      </span>
      <button className="icon" title="Light / dark" onClick={p.onTheme}>
        {p.dark ? "☀" : "☾"}
      </button>
    </header>
  );
}
