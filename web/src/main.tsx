import { ReactFlowProvider } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Editor } from "./Editor";
import "./styles.css";

createRoot(document.getElementById("root") as HTMLElement).render(
  <StrictMode>
    <ReactFlowProvider>
      <Editor />
    </ReactFlowProvider>
  </StrictMode>,
);
