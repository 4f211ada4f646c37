// Light or dark: the user's last choice, else the system's.
import type { Slice } from "./index";

const KEY = "diffgraph.theme";

export interface ThemeSlice {
  dark: boolean;
  toggleTheme: () => void;
}

export function initialDark(): boolean {
  const chosen = localStorage.getItem(KEY);
  return chosen === null ? matchMedia("(prefers-color-scheme: dark)").matches : chosen === "dark";
}

export const themeSlice: Slice<ThemeSlice> = (set, get) => ({
  dark: initialDark(),
  toggleTheme: () => {
    const dark = !get().dark;
    localStorage.setItem(KEY, dark ? "dark" : "light");
    set({ dark });
  },
});
