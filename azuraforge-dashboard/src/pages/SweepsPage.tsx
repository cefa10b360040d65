// Every sweep, newest first, with its progress and best objective.
import { Link } from "react-router";
import { api } from "../api/client";
import { useResource } from "../api/useResource";
import { formatDate, formatNumber } from "../format";

export function SweepsPage() {
  const list = useResource("sweeps", api.listSweeps);
  return (
    <section>
      <div className="page-head">
        <h1>Sweeps</h1>
        <div className="actions">
          <Link to="/new?mode=search" className="button primary">
            New sweep
          </Link>
        </div>
      </div>
      {list.error && <p className="error">Could not load the sweeps: {list.error.message}</p>}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>App</th>
            <th>State</th>
            <th>Trials</th>
            <th>Best</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((sweep) => {
            const done = (sweep.counts.complete ?? 0) + (sweep.counts.pruned ?? 0) + (sweep.counts.failed ?? 0);
            return (
              <tr key={sweep.id}>
                <td>
                  <Link to={`/sweeps/${sweep.id}`}>{sweep.name || sweep.id.slice(0, 8)}</Link>
                </td>
                <td>{sweep.app}</td>
                <td>{sweep.state}</td>
                <td>
                  {done} / {sweep.n_trials}
                </td>
                <td>
                  {sweep.best ? `${sweep.objective.metric} ${formatNumber(sweep.best.value ?? null)}` : "—"}
                </td>
                <td className="nowrap">{formatDate(sweep.created_at)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {list.data?.items.length === 0 && <p className="empty">No sweep yet: start one from New sweep.</p>}
    </section>
  );
}
