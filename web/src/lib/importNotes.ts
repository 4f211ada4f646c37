// What an imported document could not reproduce: a PNG from A1111, Forge or Civitai is
// rebuilt from its generation settings, and the server lists each setting it did not map
// (meta.import_notes: setting, value, why). Shown to the user, never dropped silently.
import type { WorkflowDoc } from "./types";

export interface ImportNote {
  setting: string;
  value: string;
  note: string;
}

function isNote(item: unknown): item is ImportNote {
  const note = item as ImportNote;
  return typeof note === "object" && note !== null && typeof note.setting === "string" && typeof note.note === "string";
}

/** The document's import notes as lines ("Sampler: Restart: no sampler of ours matches it; euler used"). */
export function importNotes(doc: Pick<WorkflowDoc, "meta">): string[] {
  const notes = doc.meta?.import_notes;
  if (!Array.isArray(notes)) return [];
  return notes.filter(isNote).map((n) => `${n.setting}: ${String(n.value)}: ${n.note}`);
}

/** Whether the document was rebuilt from generation settings (A1111's `parameters`). */
export function isRebuilt(doc: Pick<WorkflowDoc, "meta">): boolean {
  return Array.isArray(doc.meta?.import_notes);
}
