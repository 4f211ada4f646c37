// What opens over the editor: the add-node palette, the workflows dialog, an enlarged
// image, and the message of the moment.
import { useStore } from "../store";
import { Palette } from "./Palette";
import { WorkflowDialog } from "./WorkflowDialog";

function PaletteOverlay() {
  const at = useStore((s) => s.palette);
  const schemas = useStore((s) => s.schemas);
  const { addNode, closePalette } = useStore.getState();
  if (!at) return null;
  return <Palette schemas={schemas} onPick={(type) => addNode(type, at)} onClose={closePalette} />;
}

function DialogOverlay() {
  const dialog = useStore((s) => s.dialog);
  const name = useStore((s) => s.name);
  const a = useStore.getState();
  if (!dialog) return null;
  return (
    <WorkflowDialog
      current={name}
      focusSave={dialog.focusSave}
      onOpen={a.openFromServer}
      onSaveAs={a.saveAs}
      onFile={a.openFile}
      onDownload={a.download}
      onClose={a.closeDialog}
      onError={a.sayError}
    />
  );
}

function Lightbox() {
  const url = useStore((s) => s.lightbox);
  const showImage = useStore((s) => s.showImage);
  if (!url) return null;
  return (
    <div className="overlay" onClick={() => showImage(null)}>
      <img className="lightbox" src={url} alt="output" />
    </div>
  );
}

/** What an imported A1111/Forge/Civitai PNG's workflow does not reproduce, until closed. */
function ImportNotes() {
  const notes = useStore((s) => s.notes);
  const showNotes = useStore((s) => s.showNotes);
  if (!notes) return null;
  return (
    <aside className="import-notes" data-testid="import-notes" aria-label="import notes">
      <header>
        <strong>Not reproduced from the image's settings</strong>
        <button onClick={() => showNotes(null)} aria-label="close the notes">
          ×
        </button>
      </header>
      <ul>
        {notes.map((note) => (
          <li key={note}>{note}</li>
        ))}
      </ul>
    </aside>
  );
}

function Toast() {
  const toast = useStore((s) => s.toast);
  if (!toast) return null;
  return (
    <div className={`toast ${toast.kind}`} data-testid="toast" role="status">
      {toast.text}
    </div>
  );
}

export function Overlays() {
  return (
    <>
      <PaletteOverlay />
      <DialogOverlay />
      <Lightbox />
      <ImportNotes />
      <Toast />
    </>
  );
}
