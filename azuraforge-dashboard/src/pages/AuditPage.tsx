// The audit log, for site admins: logins, tokens, users, role changes and deletes, newest first.
import { useState } from "react";
import { api } from "../api/client";
import { useResource } from "../api/useResource";
import { formatDate } from "../format";

const PAGE = 100;

export function AuditPage() {
  const [offset, setOffset] = useState(0);
  const audit = useResource(`audit?${offset}`, () => api.listAudit(offset));
  const total = audit.data?.total ?? 0;
  return (
    <section>
      <h1>Audit log</h1>
      {audit.error && <p className="error">{audit.error.message}</p>}
      <table>
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>Target</th>
            <th>Project</th>
            <th>Address</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
          {audit.data?.items.map((entry) => (
            <tr key={entry.id}>
              <td>{formatDate(entry.at)}</td>
              <td>{entry.actor}</td>
              <td>{entry.action}</td>
              <td>{entry.target}</td>
              <td>{entry.project_id ?? ""}</td>
              <td>{entry.ip ?? ""}</td>
              <td>
                <code>{Object.keys(entry.details).length ? JSON.stringify(entry.details) : ""}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="actions">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          Newer
        </button>
        <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
          Older
        </button>
      </div>
    </section>
  );
}
