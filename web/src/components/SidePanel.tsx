// Queue, history and gallery. Refetched whenever the server reports a change (`tick`).
import { useEffect, useState } from "react";
import type { HistoryEntry, QueueEntry } from "../lib/api";
import { api, viewUrl } from "../lib/api";
import type { ImageRef } from "../lib/types";

type Tab = "queue" | "history" | "gallery";

interface Props {
  tick: number;
  gallery: ImageRef[];
  onOpen: (prompt: unknown, label: string) => void;
  onShow: (url: string) => void;
  onError: (message: string) => void;
}

function shortId(id: string): string {
  return id.slice(0, 8);
}

export function SidePanel({ tick, gallery, onOpen, onShow, onError }: Props) {
  const [tab, setTab] = useState<Tab>("queue");
  const [queue, setQueue] = useState<{ running: QueueEntry[]; pending: QueueEntry[] }>({ running: [], pending: [] });
  const [history, setHistory] = useState<[string, HistoryEntry][]>([]);

  useEffect(() => {
    let live = true;
    Promise.all([api.queue(), api.history(50)])
      .then(([q, h]) => {
        if (!live) return;
        setQueue({ running: q.queue_running, pending: q.queue_pending });
        setHistory(Object.entries(h).reverse()); // newest first
      })
      .catch((e: Error) => onError(e.message));
    return () => {
      live = false;
    };
  }, [tick, onError]);

  const remove = (id: string) => api.deleteQueued([id]).catch((e: Error) => onError(e.message));
  return (
    <aside className="side" data-testid="side-panel">
      <nav>
        {(["queue", "history", "gallery"] as Tab[]).map((t) => (
          <button key={t} className={tab === t ? "active" : ""} data-testid={`tab-${t}`} onClick={() => setTab(t)}>
            {t}
            {t === "queue" && queue.pending.length + queue.running.length > 0 && (
              <span className="count">{queue.pending.length + queue.running.length}</span>
            )}
          </button>
        ))}
      </nav>
      {tab === "queue" && (
        <ul className="jobs">
          {queue.running.length + queue.pending.length === 0 && <li className="empty">nothing queued</li>}
          {queue.running.map((e) => (
            <li key={e[1]} className="job running">
              <span>#{e[0]} {shortId(e[1])}</span> <em>running</em>
              <button onClick={() => api.interrupt().catch((x: Error) => onError(x.message))}>stop</button>
            </li>
          ))}
          {queue.pending.map((e) => (
            <li key={e[1]} className="job">
              <span>#{e[0]} {shortId(e[1])}</span> <em>pending</em>
              <button onClick={() => remove(e[1])}>remove</button>
            </li>
          ))}
        </ul>
      )}
      {tab === "history" && (
        <ul className="jobs" data-testid="history">
          {history.length === 0 && <li className="empty">no finished job yet</li>}
          {history.map(([id, entry]) => {
            const images = Object.values(entry.outputs).flatMap((o) => o.images ?? []);
            return (
              <li key={id} className={`job ${entry.diffgraph.status}`} data-testid="history-item">
                <div>
                  <span>#{entry.prompt[0]} {shortId(id)}</span> <em>{entry.diffgraph.status}</em>
                  <button onClick={() => onOpen(entry.prompt[2], `run ${shortId(id)}`)}>open</button>
                </div>
                {entry.diffgraph.error?.message && <div className="job-error">{entry.diffgraph.error.message}</div>}
                <div className="thumbs">
                  {images.slice(0, 8).map((image) => {
                    const url = viewUrl(image);
                    return <img key={url} src={url} alt={image.filename} onClick={() => onShow(url)} />;
                  })}
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {tab === "gallery" && (
        <div className="thumbs gallery" data-testid="gallery">
          {gallery.length === 0 && <div className="empty">images from this session appear here</div>}
          {[...gallery].reverse().map((image) => {
            const url = viewUrl(image);
            return <img key={url} src={url} alt={image.filename} onClick={() => onShow(url)} />;
          })}
        </div>
      )}
    </aside>
  );
}
