// Keyboard shortcuts. Ctrl+Enter and Ctrl+S work everywhere; the rest not while typing in
// a field (so Ctrl+Z there undoes the typing, not the graph). Delete is React Flow's.
import { useEffect } from "react";
import { useStore, type EditorState } from "../store";

type Key = Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey" | "target">;

function typing(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return !!element && (["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName) || element.isContentEditable);
}

/** The action a key press stands for, if any. */
export function shortcutFor(e: Key, s: EditorState): (() => unknown) | undefined {
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (mod && key === "enter") return s.queue;
  if (mod && key === "s") return s.save;
  if (typing(e.target)) return undefined;
  if (mod && key === "z") return e.shiftKey ? s.redo : s.undo;
  if (mod && key === "y") return s.redo;
  if (mod && key === "c") return s.copy;
  if (mod && key === "v") return s.paste;
  if (mod && key === "g") return s.groupSelection;
  if (mod && key === "a") return s.selectAll;
  if ((mod && key === "k") || (e.shiftKey && key === "a")) return () => s.openPalette();
  return undefined;
}

export function useShortcuts(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const action = shortcutFor(e, useStore.getState());
      if (!action) return;
      e.preventDefault();
      action();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}
