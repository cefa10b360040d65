// The run's notes: markdown rendered, edited in place and saved with PATCH.
import { useState } from "react";
import Markdown from "react-markdown";
import remarkGfm from "remark-gfm";
import { api } from "../api/client";

export function Notes({ experimentId, notes, onSaved }: { experimentId: string; notes: string; onSaved: (notes: string) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const save = () => {
    if (draft === null) return;
    setSaving(true);
    api.updateExperiment(experimentId, { notes: draft }).then(
      (saved) => {
        setSaving(false);
        setDraft(null);
        onSaved(saved.notes);
      },
      (e: Error) => {
        setSaving(false);
        setError(e.message);
      },
    );
  };
  return (
    <div className="notes">
      <h2>Notes</h2>
      {draft === null ? (
        <>
          {notes ? (
            <div className="markdown notes-text">
              <Markdown remarkPlugins={[remarkGfm]} skipHtml>{notes}</Markdown>
            </div>
          ) : (
            <p className="muted">No notes yet.</p>
          )}
          <button type="button" onClick={() => setDraft(notes)}>
            Edit notes
          </button>
        </>
      ) : (
        <>
          <textarea aria-label="Notes (markdown)" rows={6} maxLength={20000} value={draft} onChange={(e) => setDraft(e.target.value)} />
          <div className="actions">
            <button type="button" className="primary" onClick={save} disabled={saving}>
              {saving ? "Saving…" : "Save notes"}
            </button>
            <button type="button" onClick={() => setDraft(null)}>
              Discard
            </button>
          </div>
        </>
      )}
      {error && <p className="error">Could not save the notes: {error}</p>}
    </div>
  );
}
