// Keyboard shortcuts. Ctrl+Enter and Ctrl+S work everywhere; the rest not while typing in
// a field (so Ctrl+Z there undoes the typing, not the graph). Delete is React Flow's.
import { useEffect, useRef } from "react";

export interface Shortcuts {
  queue: () => void;
  save: () => void;
  undo: () => void;
  redo: () => void;
  copy: () => void;
  paste: () => void;
  group: () => void;
  selectAll: () => void;
  palette: () => void;
}

function typing(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return !!element && (["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName) || element.isContentEditable);
}

export function useShortcuts(actions: Shortcuts): void {
  const current = useRef(actions);
  current.current = actions;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const a = current.current;
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      let action: (() => void) | undefined;
      if (mod && key === "enter") action = a.queue;
      else if (mod && key === "s") action = a.save;
      else if (typing(e.target)) return;
      else if (mod && key === "z") action = e.shiftKey ? a.redo : a.undo;
      else if (mod && key === "y") action = a.redo;
      else if (mod && key === "c") action = a.copy;
      else if (mod && key === "v") action = a.paste;
      else if (mod && key === "g") action = a.group;
      else if (mod && key === "a") action = a.selectAll;
      else if ((mod && key === "k") || (e.shiftKey && key === "a")) action = a.palette;
      if (!action) return;
      e.preventDefault();
      action();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}
