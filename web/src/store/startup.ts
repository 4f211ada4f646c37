// The editor's start, step by step, and what undoes it when the editor goes away.
import { api } from "../lib/api";
import { readAutosave } from "../lib/autosave";
import { clientId, connectSocket } from "../lib/socket";
import { useStore } from "./index";

/**
 * 1. connect to the server's WebSocket (run events, previews, queue changes);
 * 2. load the schemas, then open the graph the user left (autosave) or the default workflow;
 * 3. fetch the queue and history for the side panel;
 * 4. refresh the schemas whenever the window regains focus (e.g. a checkpoint was added).
 */
export function startEditor(): () => void {
  const { receive, receivePreview, setConnection, refreshJobs } = useStore.getState();
  const disconnect = connectSocket(clientId(), { onMessage: receive, onPreview: receivePreview, onConnection: setConnection });
  void openFirstWorkflow();
  void refreshJobs();
  const onFocus = () => void useStore.getState().refreshSchemas();
  window.addEventListener("focus", onFocus);
  return () => {
    window.removeEventListener("focus", onFocus);
    disconnect();
  };
}

/** Schemas first (nodes are drawn from them), then the autosaved graph, else the default. */
export async function openFirstWorkflow(): Promise<void> {
  try {
    useStore.setState({ schemas: await api.nodes() });
    const saved = readAutosave();
    if (saved) return useStore.getState().openDoc(saved.doc, saved.name);
    const list = await api.workflows();
    const first = list.find((w) => w.default) ?? list[0];
    if (first) await useStore.getState().openFromServer(first.source, first.name);
  } catch (e) {
    useStore.getState().sayError(`cannot reach the server: ${(e as Error).message}`);
  }
}
