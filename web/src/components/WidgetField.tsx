// One widget, drawn from its input's schema: numbers with bounds and step, sliders, text,
// multiline prompts, choices, booleans, seeds with "after queue" control.
import { useEffect, useState } from "react";
import type { InputSpec, Literal } from "../lib/types";
import type { SeedControl } from "../lib/widgets";
import { bounds, normalizeNumber, randomSeed, stepOf, widgetKind } from "../lib/widgets";

interface Props {
  spec: InputSpec;
  value: Literal;
  seedControl: SeedControl;
  onChange: (value: Literal, settled: boolean) => void;
  onSeedControl: (control: SeedControl) => void;
}

/** A number typed as text, made valid (clamped, rounded) when the user is done with it. */
function NumberBox({ spec, value, onChange }: Pick<Props, "spec" | "value" | "onChange">) {
  const [text, setText] = useState(String(value ?? ""));
  useEffect(() => setText(String(value ?? "")), [value]);
  const { min, max } = bounds(spec);
  const settle = () => {
    const next = normalizeNumber(spec, Number(text));
    setText(String(next));
    if (next !== value) onChange(next, true);
  };
  return (
    <input
      className="nodrag"
      type="number"
      value={text}
      min={min}
      max={max}
      step={stepOf(spec)}
      data-testid={`widget-${spec.name}`}
      onChange={(e) => setText(e.target.value)}
      onBlur={settle}
      onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
    />
  );
}

function ChoiceField({ spec, value, onChange }: Pick<Props, "spec" | "value" | "onChange">) {
  const choices = spec.choices ?? [];
  const missing = value !== null && value !== undefined && !choices.includes(String(value));
  return (
    <select
      className="nodrag"
      value={String(value ?? "")}
      data-testid={`widget-${spec.name}`}
      onChange={(e) => onChange(e.target.value, true)}
    >
      {missing && <option value={String(value)}>{String(value)} (not on the server)</option>}
      {choices.length === 0 && !missing && <option value="">(none found)</option>}
      {choices.map((c) => (
        <option key={c} value={c}>
          {c}
        </option>
      ))}
    </select>
  );
}

function SliderField({ spec, value, onChange }: Pick<Props, "spec" | "value" | "onChange">) {
  const { min, max } = bounds(spec);
  return (
    <span className="slider">
      <input
        className="nodrag"
        type="range"
        min={min}
        max={max}
        step={stepOf(spec)}
        value={Number(value ?? min)}
        data-testid={`widget-${spec.name}`}
        onChange={(e) => onChange(normalizeNumber(spec, Number(e.target.value)), false)}
        onPointerUp={() => onChange(Number(value), true)}
      />
      <output>{String(value)}</output>
    </span>
  );
}

/** A seed: typed, rolled with the dice, and what happens to it after each queue. */
function SeedField({ spec, value, seedControl, onChange, onSeedControl }: Props) {
  return (
    <span className="seed">
      <NumberBox spec={spec} value={value} onChange={onChange} />
      <button className="nodrag icon" title="a new random seed" onClick={() => onChange(randomSeed(spec), true)}>
        ⚄
      </button>
      <select
        className="nodrag"
        title="what happens to the seed after each queue"
        value={seedControl}
        data-testid={`widget-${spec.name}-control`}
        onChange={(e) => onSeedControl(e.target.value as SeedControl)}
      >
        <option value="fixed">fixed</option>
        <option value="randomize">randomize after queue</option>
      </select>
    </span>
  );
}

/** Text is committed to the undo history when the field is left, not at every key. */
function TextField({ spec, value, onChange, multiline }: Pick<Props, "spec" | "value" | "onChange"> & { multiline: boolean }) {
  if (multiline) {
    return (
      <textarea
        className="nodrag nowheel"
        rows={3}
        value={String(value ?? "")}
        data-testid={`widget-${spec.name}`}
        onChange={(e) => onChange(e.target.value, false)}
        onBlur={(e) => onChange(e.target.value, true)}
      />
    );
  }
  return (
    <input
      className="nodrag"
      type="text"
      value={String(value ?? "")}
      data-testid={`widget-${spec.name}`}
      onChange={(e) => onChange(e.target.value, false)}
      onBlur={(e) => onChange(e.target.value, true)}
    />
  );
}

export function WidgetField(props: Props) {
  const kind = widgetKind(props.spec);
  switch (kind) {
    case "choice":
      return <ChoiceField {...props} />;
    case "toggle":
      return (
        <input
          className="nodrag"
          type="checkbox"
          checked={Boolean(props.value)}
          data-testid={`widget-${props.spec.name}`}
          onChange={(e) => props.onChange(e.target.checked, true)}
        />
      );
    case "slider":
      return <SliderField {...props} />;
    case "seed":
      return <SeedField {...props} />;
    case "number":
      return <NumberBox {...props} />;
    default:
      return <TextField {...props} multiline={kind === "multiline"} />;
  }
}
