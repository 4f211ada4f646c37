// A node on the canvas, drawn from its schema: typed ports (colour + tooltip), widgets,
// run state (queued, running with progress, cached, done, error), images, and the server's
// validation errors on the node and on the inputs at fault.
import { Handle, Position, useNodeConnections, type NodeProps } from "@xyflow/react";
import { useState } from "react";
import { viewUrl } from "../lib/api";
import { useEditor } from "../lib/editor";
import type { DiffNode } from "../lib/graph";
import { portColor } from "../lib/ports";
import type { InputSpec } from "../lib/types";
import type { SeedControl } from "../lib/widgets";
import { defaultValue } from "../lib/widgets";
import { WidgetField } from "./WidgetField";

const STATUS_LABEL: Record<string, string> = {
  queued: "queued",
  running: "running",
  cached: "cached",
  done: "done",
  error: "error",
};

function PortHandle({ kind, name, type }: { kind: "source" | "target"; name: string; type: string }) {
  return (
    <Handle
      type={kind}
      position={kind === "source" ? Position.Right : Position.Left}
      id={name}
      title={`${name}: ${type}`}
      data-port-type={type}
      className="port"
      style={{ background: portColor(type) }}
    />
  );
}

function Title({ id, shown }: { id: string; shown: string }) {
  const { setTitle } = useEditor();
  const [editing, setEditing] = useState(false);
  if (!editing) {
    return (
      <span className="title" title="double-click to rename" onDoubleClick={() => setEditing(true)}>
        {shown}
      </span>
    );
  }
  return (
    <input
      className="nodrag title-edit"
      autoFocus
      defaultValue={shown}
      onBlur={(e) => {
        setTitle(id, e.target.value.trim() || undefined);
        setEditing(false);
      }}
      onKeyDown={(e) => {
        if (e.key === "Enter") (e.target as HTMLInputElement).blur();
        if (e.key === "Escape") setEditing(false);
      }}
    />
  );
}

export function DiffNodeView({ id, data, selected }: NodeProps<DiffNode>) {
  const { schemas, run, preview, problems, setValue, setNodeUi, showImage } = useEditor();
  const connections = useNodeConnections({ handleType: "target" });
  const schema = schemas[data.nodeType];
  const state = run.nodes[id] ?? { status: "idle" };
  const mine = problems[id] ?? [];
  const nodeLevel = mine.filter((p) => !p.input || !schema?.inputs.some((i) => i.name === p.input));
  const errorText = state.status === "error" ? state.error : undefined;
  const hasError = mine.length > 0 || errorText !== undefined;
  const linked = new Set(connections.map((c) => c.targetHandle));
  const seedControls = (data.ui.seed_control ?? {}) as Record<string, SeedControl>;

  const classes = ["dg-node", `status-${state.status}`];
  if (hasError) classes.push("has-error");
  if (selected) classes.push("selected");
  if (!schema) {
    return (
      <div className={`${classes.join(" ")} has-error`} data-testid="node" data-status="error">
        <header>
          <span className="title">{data.title ?? data.nodeType}</span>
        </header>
        <div className="node-error" data-testid="node-error">
          unknown node type {data.nodeType}: no installed pack declares it
        </div>
      </div>
    );
  }
  const row = (spec: InputSpec) => {
    const error = mine.filter((p) => p.input === spec.name);
    const isLinked = linked.has(spec.name);
    return (
      <div key={spec.name} className={`input-row ${error.length ? "input-error" : ""}`} data-input={spec.name}>
        <PortHandle kind="target" name={spec.name} type={spec.type} />
        <label title={spec.description ?? `${spec.name}: ${spec.type}`}>
          {spec.name}
          {spec.required && spec.kind === "port" ? "" : ""}
        </label>
        {spec.kind === "widget" && !isLinked && (
          <WidgetField
            spec={spec}
            value={data.values[spec.name] ?? defaultValue(spec)}
            seedControl={seedControls[spec.name] ?? "fixed"}
            onChange={(value, settled) => setValue(id, spec.name, value, settled)}
            onSeedControl={(control) =>
              setNodeUi(id, { seed_control: { ...seedControls, [spec.name]: control } })
            }
          />
        )}
        {spec.kind === "widget" && isLinked && <span className="linked">linked</span>}
        {spec.kind === "port" && <span className="port-type">{spec.type}</span>}
        {error.map((p, k) => (
          <div key={k} className="input-message" data-testid={`input-error-${spec.name}`}>
            {p.message}
          </div>
        ))}
      </div>
    );
  };
  const ports = schema.inputs.filter((i) => i.kind === "port");
  const widgets = schema.inputs.filter((i) => i.kind === "widget");
  const images = state.images ?? [];
  return (
    <div
      className={classes.join(" ")}
      data-testid="node"
      data-status={hasError ? "error" : state.status}
      title={schema.description}
    >
      <header>
        <Title id={id} shown={data.title ?? schema.title} />
        {state.status !== "idle" && (
          <span className={`badge badge-${state.status}`} data-testid="node-status">
            {STATUS_LABEL[state.status]}
          </span>
        )}
      </header>
      {state.progress && (
        <div className="progress" data-testid="node-progress">
          <div style={{ width: `${(100 * state.progress.value) / Math.max(1, state.progress.max)}%` }} />
        </div>
      )}
      {nodeLevel.map((p, k) => (
        <div key={k} className="node-error" data-testid="node-error">
          {p.message}
        </div>
      ))}
      {errorText && (
        <div className="node-error" data-testid="node-error">
          {errorText}
        </div>
      )}
      <div className="outputs">
        {schema.outputs.map((o) => (
          <div key={o.name} className="output-row">
            <span className="port-type">{o.type}</span>
            <label>{o.name}</label>
            <PortHandle kind="source" name={o.name} type={o.type} />
          </div>
        ))}
      </div>
      {ports.map(row)}
      {widgets.map(row)}
      {state.status === "running" && preview && run.running === id && (
        <img className="preview" src={preview} alt="latent preview" data-testid="node-preview" />
      )}
      {images.length > 0 && (
        <div className="images" data-testid="node-images">
          {images.map((image) => {
            const url = viewUrl(image);
            return <img key={url} src={url} alt={image.filename} onClick={() => showImage(url)} />;
          })}
        </div>
      )}
    </div>
  );
}
