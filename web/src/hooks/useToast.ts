// One short message at a time at the bottom of the screen; errors stay longer.
import { useCallback, useEffect, useState } from "react";

export interface Toast {
  text: string;
  kind: "info" | "error";
}

export function useToast() {
  const [toast, setToast] = useState<Toast | null>(null);
  useEffect(() => {
    if (!toast) return;
    const timer = setTimeout(() => setToast(null), toast.kind === "error" ? 8000 : 3000);
    return () => clearTimeout(timer);
  }, [toast]);
  const say = useCallback((text: string) => setToast({ text, kind: "info" }), []);
  const sayError = useCallback((text: string) => setToast({ text, kind: "error" }), []);
  return { toast, say, sayError };
}

/** Dark or light: the user's last choice, else the system's. */
export function initialDark(): boolean {
  const chosen = localStorage.getItem("diffgraph.theme");
  return chosen === null ? matchMedia("(prefers-color-scheme: dark)").matches : chosen === "dark";
}
