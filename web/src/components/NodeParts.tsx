// The parts of a node on the canvas: typed ports, the progress bar, the renamable title,
// one input row (port or widget, with the server's errors on it), and the output images.
import { Handle, Position } from "@xyflow/react";
import { useState } from "react";
import { viewUrl } from "../lib/api";
import { portColor } from "../lib/ports";
import type { ImageRef, InputSpec, Literal, OutputSpec, Problem } from "../lib/types";
import { defaultValue, type SeedControl } from "../lib/widgets";
import { useStore } from "../store";
import { WidgetField } from "./WidgetField";

export function PortHandle({ kind, name, type }: { kind: "source" | "target"; name: string; type: string }) {
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

/** A sampler's steps done, as a filling bar. */
export function ProgressBar({ value, max }: { value: number; max: number }) {
  return (
    <div className="progress" data-testid="node-progress">
      <div style={{ width: `${(100 * value) / Math.max(1, max)}%` }} />
    </div>
  );
}

export function Outputs({ outputs }: { outputs: OutputSpec[] }) {
  return (
    <div className="outputs">
      {outputs.map((o) => (
        <div key={o.name} className="output-row">
          <span className="port-type">{o.type}</span>
          <label>{o.name}</label>
          <PortHandle kind="source" name={o.name} type={o.type} />
        </div>
      ))}
    </div>
  );
}

/** The node's title; double-click to rename (an empty name gives back the schema's title). */
export function Title({ id, shown }: { id: string; shown: string }) {
  const setTitle = useStore((s) => s.setTitle);
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

interface InputRowProps {
  node: string;
  spec: InputSpec;
  value: Literal | undefined;
  seedControls: Record<string, SeedControl>;
  linked: boolean;
  problems: Problem[]; // the node's; those on this input are shown here
}

export function InputRow({ node, spec, value, seedControls, linked, problems }: InputRowProps) {
  const setValue = useStore((s) => s.setValue);
  const setNodeUi = useStore((s) => s.setNodeUi);
  const errors = problems.filter((p) => p.input === spec.name);
  return (
    <div className={`input-row ${errors.length ? "input-error" : ""}`} data-input={spec.name}>
      <PortHandle kind="target" name={spec.name} type={spec.type} />
      <label title={spec.description ?? `${spec.name}: ${spec.type}`}>{spec.name}</label>
      {spec.kind === "widget" && !linked && (
        <WidgetField
          spec={spec}
          value={value ?? defaultValue(spec)}
          seedControl={seedControls[spec.name] ?? "fixed"}
          onChange={(next, settled) => setValue(node, spec.name, next, settled)}
          onSeedControl={(control) => setNodeUi(node, { seed_control: { ...seedControls, [spec.name]: control } })}
        />
      )}
      {spec.kind === "widget" && linked && <span className="linked">linked</span>}
      {spec.kind === "port" && <span className="port-type">{spec.type}</span>}
      {errors.map((p, k) => (
        <div key={k} className="input-message" data-testid={`input-error-${spec.name}`}>
          {p.message}
        </div>
      ))}
    </div>
  );
}

export function NodeImages({ images }: { images: ImageRef[] }) {
  const showImage = useStore((s) => s.showImage);
  if (images.length === 0) return null;
  return (
    <div className="images" data-testid="node-images">
      {images.map((image) => {
        const url = viewUrl(image);
        return <img key={url} src={url} alt={image.filename} onClick={() => showImage(url)} />;
      })}
    </div>
  );
}
