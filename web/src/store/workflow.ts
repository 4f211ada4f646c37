// The workflow as a whole, against the server: open (from the server's folders, a local or
// dropped file, a past run's prompt: all read by the server into our document), save,
// download, and queue it (a refused queue puts each problem on its node).
import { ApiError, api } from "../lib/api";
import { writeAutosave } from "../lib/autosave";
import { importNotes, isRebuilt } from "../lib/importNotes";
import { problemsByNode, type FlowNode } from "../lib/graph";
import { clientId } from "../lib/socket";
import type { Problem, WorkflowDoc } from "../lib/types";
import type { Slice } from "./index";

interface FileActions {
  /** Draw `doc` as a fresh start: no run shown, no undo history, autosaved, fitted in view. */
  openDoc: (doc: WorkflowDoc, name: string | null) => void;
  openFromServer: (source: string, file: string) => Promise<void>;
  openFile: (file: File) => Promise<void>;
  openPrompt: (prompt: unknown, label: string) => Promise<void>;
  saveAs: (file: string) => Promise<void>;
  /** Save under the current name, or ask for one. */
  save: () => void;
  download: () => void;
}

interface RunActions {
  queue: () => Promise<void>;
  interrupt: () => Promise<void>;
}

export type WorkflowSlice = FileActions & RunActions;

/** What a refused queue shows: the problems by node, and the one-line message. */
export function refusal(problems: Problem[], nodes: FlowNode[]): { byNode: Record<string, Problem[]>; message: string } {
  const { byNode, general } = problemsByNode(problems, nodes);
  const count = problems.length;
  const message = general.length
    ? `not queued: ${general.join("; ")}`
    : `not queued: ${count} problem${count > 1 ? "s" : ""}, shown on the nodes`;
  return { byNode, message };
}

const files: Slice<FileActions> = (set, get) => {
  const attempt = async (what: string, action: () => Promise<void>) => {
    try {
      await action();
    } catch (e) {
      get().sayError(`${what}: ${(e as Error).message}`);
    }
  };
  return {
    openDoc: (doc, name) => {
      get().loadGraph(doc, name);
      get().clearRun();
      get().restartHistory();
      get().showNotes(null); // notes belong to the document they came with
      writeAutosave(name, doc);
      setTimeout(() => get().flow?.fitView({ padding: 0.12 }), 60); // once React Flow has measured the nodes
    },
    openFromServer: (source, file) =>
      attempt(`cannot open ${file}`, async () => {
        get().openDoc(await api.importJson(await api.readWorkflow(source, file)), file);
        get().closeDialog();
      }),
    openFile: (file) =>
      attempt(`cannot open ${file.name}`, async () => {
        const doc = await api.importFile(file);
        get().openDoc(doc, file.name.toLowerCase().endsWith(".json") ? file.name : null);
        get().closeDialog();
        const notes = importNotes(doc);
        get().showNotes(notes.length ? notes : null);
        if (!isRebuilt(doc)) return get().say(`opened ${file.name}`);
        const unmapped = notes.length ? `; ${notes.length} setting${notes.length > 1 ? "s" : ""} not reproduced` : "";
        get().say(`rebuilt ${file.name} from its generation settings${unmapped}`);
      }),
    openPrompt: (prompt, label) =>
      attempt(`cannot open ${label}`, async () => {
        get().openDoc(await api.importJson(prompt), null);
        get().say(`opened the workflow of ${label}`);
      }),
    saveAs: (file) =>
      attempt("not saved", async () => {
        get().commitNow();
        await api.saveWorkflow(file, get().currentDoc());
        set({ name: file });
        get().closeDialog();
        get().say(`saved ${file} in user/workflows`);
      }),
    save: () => {
      const { name, saveAs, openDialog } = get();
      if (name) void saveAs(name);
      else openDialog({ focusSave: true });
    },
    download: () => {
      const blob = new Blob([JSON.stringify(get().currentDoc(), null, 2)], { type: "application/json" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = get().name ?? "workflow.json";
      link.click();
      URL.revokeObjectURL(link.href);
    },
  };
};

const running: Slice<RunActions> = (set, get) => ({
  queue: async () => {
    get().commitNow();
    try {
      const queued = await api.queuePrompt(get().currentDoc(), clientId());
      set({ problems: {} });
      get().say(`queued job #${queued.number}`);
      get().randomizeSeeds(); // those set to "randomize after queue"
      get().commit();
    } catch (e) {
      const body = e instanceof ApiError ? (e.body as { problems?: Problem[] }) : undefined;
      if (!body?.problems) return get().sayError(`not queued: ${(e as Error).message}`);
      const { byNode, message } = refusal(body.problems, get().nodes);
      set({ problems: byNode });
      get().sayError(message);
    }
  },
  interrupt: () =>
    api.interrupt().then(
      () => undefined,
      (e: Error) => get().sayError(e.message),
    ),
});

export const workflowSlice: Slice<WorkflowSlice> = (...a) => ({ ...files(...a), ...running(...a) });
