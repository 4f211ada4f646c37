// The add-node palette: search by title, id, category or description; grouped by category;
// arrow keys move, Enter adds, Escape closes.
import { useEffect, useMemo, useRef, useState } from "react";
import type { NodeSchema, Schemas } from "../lib/types";

interface Props {
  schemas: Schemas;
  onPick: (type: string) => void;
  onClose: () => void;
}

export function matches(schema: NodeSchema, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const text = `${schema.title} ${schema.id} ${schema.category} ${schema.comfy_class ?? ""} ${schema.description}`.toLowerCase();
  return words.every((w) => text.includes(w));
}

interface ItemsProps {
  found: NodeSchema[]; // sorted by category
  active: number;
  onHover: (index: number) => void;
  onPick: (type: string) => void;
}

/** The matches, under a heading at each new category. */
function PaletteItems({ found, active, onHover, onPick }: ItemsProps) {
  return found.map((schema, index) => (
    <div key={schema.id}>
      {schema.category !== (index === 0 ? "" : found[index - 1].category) && (
        <div className="palette-category">{schema.category}</div>
      )}
      <button
        className={`palette-item ${index === active ? "active" : ""}`}
        data-testid="palette-item"
        data-type={schema.id}
        title={schema.description}
        onMouseEnter={() => onHover(index)}
        onClick={() => onPick(schema.id)}
      >
        <span>{schema.title}</span>
        <small>{schema.id}</small>
      </button>
    </div>
  ));
}

export function Palette({ schemas, onPick, onClose }: Props) {
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const list = useRef<HTMLDivElement>(null);
  const found = useMemo(
    () =>
      Object.values(schemas)
        .filter((s) => matches(s, query))
        .sort((a, b) => a.category.localeCompare(b.category) || a.title.localeCompare(b.title)),
    [schemas, query],
  );
  useEffect(() => setActive(0), [query]);
  useEffect(() => {
    list.current?.querySelector(".active")?.scrollIntoView({ block: "nearest" });
  }, [active]);
  const onKey = (e: React.KeyboardEvent) => {
    if (e.key === "ArrowDown") setActive((a) => Math.min(found.length - 1, a + 1));
    else if (e.key === "ArrowUp") setActive((a) => Math.max(0, a - 1));
    else if (e.key === "Enter" && found[active]) onPick(found[active].id);
    else if (e.key === "Escape") onClose();
    else return;
    e.preventDefault();
  };
  return (
    <div className="overlay" onMouseDown={onClose}>
      <div className="palette" data-testid="palette" onMouseDown={(e) => e.stopPropagation()}>
        <input
          autoFocus
          placeholder="Add a node: type to search"
          value={query}
          data-testid="palette-search"
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={onKey}
        />
        <div className="palette-list" ref={list}>
          {found.length === 0 && <div className="empty">no node matches “{query}”</div>}
          <PaletteItems found={found} active={active} onHover={setActive} onPick={onPick} />
        </div>
      </div>
    </div>
  );
}
