// Queue, history and gallery. The store refetches the lists when the server reports a
// change; this panel only draws them.
import { useState } from "react";
import { viewUrl } from "../lib/api";
import type { ImageRef } from "../lib/types";
import { useStore } from "../store";

type Tab = "queue" | "history" | "gallery";

function shortId(id: string): string {
  return id.slice(0, 8);
}

/** Images that open large on a click. */
function Thumbs({ images }: { images: ImageRef[] }) {
  const showImage = useStore((s) => s.showImage);
  return images.map((image) => {
    const url = viewUrl(image);
    return <img key={url} src={url} alt={image.filename} onClick={() => showImage(url)} />;
  });
}

function QueueList() {
  const { running, pending } = useStore((s) => s.jobs);
  const interrupt = useStore((s) => s.interrupt);
  const removeJob = useStore((s) => s.removeJob);
  return (
    <ul className="jobs">
      {running.length + pending.length === 0 && <li className="empty">nothing queued</li>}
      {running.map((e) => (
        <li key={e[1]} className="job running">
          <span>#{e[0]} {shortId(e[1])}</span> <em>running</em>
          <button onClick={() => void interrupt()}>stop</button>
        </li>
      ))}
      {pending.map((e) => (
        <li key={e[1]} className="job">
          <span>#{e[0]} {shortId(e[1])}</span> <em>pending</em>
          <button onClick={() => removeJob(e[1])}>remove</button>
        </li>
      ))}
    </ul>
  );
}

function HistoryList() {
  const finished = useStore((s) => s.jobs.finished);
  const openPrompt = useStore((s) => s.openPrompt);
  return (
    <ul className="jobs" data-testid="history">
      {finished.length === 0 && <li className="empty">no finished job yet</li>}
      {finished.map(([id, entry]) => (
        <li key={id} className={`job ${entry.diffgraph.status}`} data-testid="history-item">
          <div>
            <span>#{entry.prompt[0]} {shortId(id)}</span> <em>{entry.diffgraph.status}</em>
            <button onClick={() => void openPrompt(entry.prompt[2], `run ${shortId(id)}`)}>open</button>
          </div>
          {entry.diffgraph.error?.message && <div className="job-error">{entry.diffgraph.error.message}</div>}
          <div className="thumbs">
            <Thumbs images={Object.values(entry.outputs).flatMap((o) => o.images ?? []).slice(0, 8)} />
          </div>
        </li>
      ))}
    </ul>
  );
}

function Gallery() {
  const gallery = useStore((s) => s.gallery);
  return (
    <div className="thumbs gallery" data-testid="gallery">
      {gallery.length === 0 && <div className="empty">images from this session appear here</div>}
      <Thumbs images={[...gallery].reverse()} />
    </div>
  );
}

export function SidePanel() {
  const [tab, setTab] = useState<Tab>("queue");
  const queued = useStore((s) => s.jobs.running.length + s.jobs.pending.length);
  return (
    <aside className="side" data-testid="side-panel">
      <nav>
        {(["queue", "history", "gallery"] as Tab[]).map((t) => (
          <button key={t} className={tab === t ? "active" : ""} data-testid={`tab-${t}`} onClick={() => setTab(t)}>
            {t}
            {t === "queue" && queued > 0 && <span className="count">{queued}</span>}
          </button>
        ))}
      </nav>
      {tab === "queue" && <QueueList />}
      {tab === "history" && <HistoryList />}
      {tab === "gallery" && <Gallery />}
    </aside>
  );
}
