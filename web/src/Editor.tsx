// The editor: toolbar, canvas, side panel and what opens over them. The state is the
// store's (store/); this only puts the parts together and starts the editor once.
import { useEffect } from "react";
import { Canvas } from "./components/Canvas";
import { Overlays } from "./components/Overlays";
import { SidePanel } from "./components/SidePanel";
import { Toolbar } from "./components/Toolbar";
import { useShortcuts } from "./hooks/useShortcuts";
import { useStore } from "./store";
import { startEditor } from "./store/startup";

export function Editor() {
  const theme = useStore((s) => (s.dark ? "dark" : "light"));
  useEffect(startEditor, []);
  useShortcuts();
  return (
    <div className={`app ${theme}`} data-theme={theme}>
      <Toolbar />
      <Canvas />
      <SidePanel />
      <Overlays />
    </div>
  );
}
