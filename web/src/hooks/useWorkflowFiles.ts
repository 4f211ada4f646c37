// Workflow files: open from the server's folders, from a local file or dropped PNG, or a
// past run's prompt (all read by the server into our document); save to the user folder;
// download as JSON.
import { useCallback } from "react";
import { api } from "../lib/api";
import type { WorkflowDoc } from "../lib/types";
import type { GraphApi } from "./graphApi";

interface Deps {
  openDoc: (doc: WorkflowDoc, name: string | null) => void;
  currentDoc: () => WorkflowDoc;
  commitNow: () => void;
  setName: (name: string | null) => void;
  setDialog: (dialog: { focusSave: boolean } | null) => void;
}

export function useWorkflowFiles({ latest, say, sayError }: GraphApi, deps: Deps) {
  const { openDoc, currentDoc, commitNow, setName, setDialog } = deps;
  const attempt = useCallback(
    async (what: string, action: () => Promise<void>) => {
      try {
        await action();
      } catch (e) {
        sayError(`${what}: ${(e as Error).message}`);
      }
    },
    [sayError],
  );
  const openFromServer = useCallback(
    (source: string, file: string) =>
      attempt(`cannot open ${file}`, async () => {
        openDoc(await api.importJson(await api.readWorkflow(source, file)), file);
        setDialog(null);
      }),
    [attempt, openDoc, setDialog],
  );
  const openFile = useCallback(
    (file: File) =>
      attempt(`cannot open ${file.name}`, async () => {
        const doc = await api.importFile(file);
        openDoc(doc, file.name.toLowerCase().endsWith(".json") ? file.name : null);
        setDialog(null);
        say(`opened ${file.name}`);
      }),
    [attempt, openDoc, setDialog, say],
  );
  const openPrompt = useCallback(
    (prompt: unknown, label: string) =>
      attempt(`cannot open ${label}`, async () => {
        openDoc(await api.importJson(prompt), null);
        say(`opened the workflow of ${label}`);
      }),
    [attempt, openDoc, say],
  );
  const saveAs = useCallback(
    (file: string) =>
      attempt("not saved", async () => {
        commitNow();
        await api.saveWorkflow(file, currentDoc());
        setName(file);
        setDialog(null);
        say(`saved ${file} in user/workflows`);
      }),
    [attempt, commitNow, currentDoc, setName, setDialog, say],
  );
  const save = useCallback(() => {
    const { name } = latest.current;
    if (name) void saveAs(name);
    else setDialog({ focusSave: true });
  }, [latest, saveAs, setDialog]);
  const download = useCallback(() => {
    const blob = new Blob([JSON.stringify(currentDoc(), null, 2)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = latest.current.name ?? "workflow.json";
    link.click();
    URL.revokeObjectURL(link.href);
  }, [latest, currentDoc]);
  return { openFromServer, openFile, openPrompt, saveAs, save, download };
}
