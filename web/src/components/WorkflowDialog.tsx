// The workflow files: the project's examples and the user's folder on the server (open,
// save as, delete), plus download and open from a local file (our JSON, ComfyUI's JSON,
// or a PNG that carries a workflow).
import { useCallback, useEffect, useRef, useState } from "react";
import type { WorkflowEntry } from "../lib/api";
import { api } from "../lib/api";

interface Props {
  current: string | null;
  focusSave: boolean;
  onOpen: (source: string, name: string) => void;
  onSaveAs: (name: string) => void;
  onFile: (file: File) => void;
  onDownload: () => void;
  onClose: () => void;
  onError: (message: string) => void;
}

export function fileName(raw: string): string {
  const name = raw.trim().replace(/[\\/]/g, "_");
  return name.toLowerCase().endsWith(".json") ? name : `${name}.json`;
}

interface ListProps {
  source: "project" | "user";
  heading: string;
  entries: WorkflowEntry[];
  onOpen: (source: string, name: string) => void;
  onDelete: (name: string) => void;
}

/** One folder's workflows: open one; the user's own can be deleted. */
function WorkflowList({ source, heading, entries, onOpen, onDelete }: ListProps) {
  const mine = entries.filter((e) => e.source === source);
  return (
    <section>
      <h3>{heading}</h3>
      <ul>
        {mine.length === 0 && <li className="empty">none yet</li>}
        {mine.map((e) => (
          <li key={`${source}/${e.name}`}>
            <button
              className="link"
              data-testid="workflow-item"
              data-source={source}
              data-name={e.name}
              onClick={() => onOpen(source, e.name)}
            >
              {e.name}
              {e.default ? " (default)" : ""}
            </button>
            {source === "user" && (
              <button className="icon" title={`delete ${e.name}`} onClick={() => onDelete(e.name)}>
                ✕
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Download the graph as JSON, or open a local file (our JSON, ComfyUI's, a PNG). */
function FileActions({ onDownload, onFile }: Pick<Props, "onDownload" | "onFile">) {
  const picker = useRef<HTMLInputElement>(null);
  return (
    <footer>
      <button onClick={onDownload} data-testid="download">
        Download JSON
      </button>
      <button onClick={() => picker.current?.click()}>Open a file… (JSON or PNG)</button>
      <input
        ref={picker}
        type="file"
        accept=".json,.png,application/json,image/png"
        hidden
        data-testid="open-file"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) onFile(file);
          e.target.value = "";
        }}
      />
    </footer>
  );
}

export function WorkflowDialog({ current, focusSave, onOpen, onSaveAs, onFile, onDownload, onClose, onError }: Props) {
  const [entries, setEntries] = useState<WorkflowEntry[]>([]);
  const [name, setName] = useState(current ?? "");
  const load = useCallback(() => api.workflows().then(setEntries, (e: Error) => onError(e.message)), [onError]);
  useEffect(() => void load(), [load]);
  const save = () => name.trim() && onSaveAs(fileName(name));
  const remove = (file: string) => api.deleteWorkflow(file).then(load, (x: Error) => onError(x.message));
  const list = (source: "project" | "user", heading: string) => (
    <WorkflowList source={source} heading={heading} entries={entries} onOpen={onOpen} onDelete={remove} />
  );
  return (
    <div className="overlay" onMouseDown={onClose}>
      <div className="dialog" data-testid="workflow-dialog" onMouseDown={(e) => e.stopPropagation()}>
        <header>
          <h2>Workflows</h2>
          <button className="icon" onClick={onClose} title="close">
            ✕
          </button>
        </header>
        <form
          className="save-as"
          onSubmit={(e) => {
            e.preventDefault();
            save();
          }}
        >
          <input
            autoFocus={focusSave}
            placeholder="name.json"
            value={name}
            data-testid="save-name"
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" data-testid="save-as">
            Save to server
          </button>
        </form>
        <div className="columns">
          {list("user", "Yours (user/workflows)")}
          {list("project", "Examples (workflows/)")}
        </div>
        <FileActions onDownload={onDownload} onFile={onFile} />
      </div>
    </div>
  );
}
