// The workflow files: the project's examples and the user's folder on the server (open,
// save as, delete), plus download and open from a local file (our JSON, ComfyUI's JSON,
// or a PNG that carries a workflow).
import { useEffect, useRef, useState } from "react";
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

export function WorkflowDialog({ current, focusSave, onOpen, onSaveAs, onFile, onDownload, onClose, onError }: Props) {
  const [entries, setEntries] = useState<WorkflowEntry[]>([]);
  const [name, setName] = useState(current ?? "");
  const [tick, setTick] = useState(0);
  const picker = useRef<HTMLInputElement>(null);
  useEffect(() => {
    api.workflows().then(setEntries, (e: Error) => onError(e.message));
  }, [tick, onError]);
  const save = () => name.trim() && onSaveAs(fileName(name));
  const section = (source: "project" | "user", heading: string) => (
    <section>
      <h3>{heading}</h3>
      <ul>
        {entries.filter((e) => e.source === source).length === 0 && <li className="empty">none yet</li>}
        {entries
          .filter((e) => e.source === source)
          .map((e) => (
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
                <button
                  className="icon"
                  title={`delete ${e.name}`}
                  onClick={() => api.deleteWorkflow(e.name).then(() => setTick((t) => t + 1), (x: Error) => onError(x.message))}
                >
                  ✕
                </button>
              )}
            </li>
          ))}
      </ul>
    </section>
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
          {section("user", "Yours (user/workflows)")}
          {section("project", "Examples (workflows/)")}
        </div>
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
      </div>
    </div>
  );
}
