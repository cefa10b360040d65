// What a finished run's record says: the verdict against the strongest baseline per metric, how it stopped,
// and where its data came from (with a badge when an offline sample stood in for the requested source).
import type { Provenance, RunResult } from "../api/types";
import { formatNumber } from "../format";
import { headlineVerdict } from "../metrics";

/** Compact, for a list row: "rmse ✓" when the model beats the strongest baseline, "rmse ✗" when it loses. */
export function VerdictMarks({ result }: { result: RunResult }) {
  return (
    <>
      {headlineVerdict(result).map((entry) => (
        <span
          key={entry.metric}
          className={`verdict ${entry.beaten ? "verdict-beats" : "verdict-loses"}`}
          data-verdict={entry.beaten ? "beats" : "loses"}
          title={`${entry.beaten ? "beats" : "loses to"} ${entry.strongest_baseline} on ${entry.metric}`}
        >
          {entry.metric} {entry.beaten ? "✓" : "✗"}
        </span>
      ))}
    </>
  );
}

export function OfflineBadge({ provenance }: { provenance: Provenance }) {
  const source = provenance.data?.source;
  if (!source?.fallback_reason) return null;
  return (
    <span className="badge-offline" title={source.fallback_reason} data-offline="true">
      offline sample
    </span>
  );
}

/** The run page's verdict: one sentence per headline metric, then every judged metric with both scores. */
export function Verdict({ result }: { result: RunResult }) {
  const units = new Map(result.plan.metrics.map((spec) => [spec.name, spec.unit]));
  const unit = (metric: string) => (units.get(metric) ? ` ${units.get(metric)}` : "");
  if (result.verdict.length === 0) {
    return <p className="muted">No baseline was scored on the model's metrics, so there is no verdict.</p>;
  }
  return (
    <div className="verdict-panel">
      <ul>
        {headlineVerdict(result).map((entry) => (
          <li key={entry.metric} data-verdict={entry.beaten ? "beats" : "loses"}>
            On <b>{entry.metric}</b> the model {entry.beaten ? "beats" : "loses to"} the strongest baseline,{" "}
            {entry.strongest_baseline}.
          </li>
        ))}
      </ul>
      <table className="kv">
        <thead>
          <tr>
            <th>metric</th>
            <th>model</th>
            <th>strongest baseline</th>
            <th>verdict</th>
          </tr>
        </thead>
        <tbody>
          {result.verdict.map((entry) => (
            <tr key={entry.metric} data-metric={entry.metric}>
              <td>{entry.metric}</td>
              <td>
                {formatNumber(entry.model)}
                {unit(entry.metric)}
              </td>
              <td>
                {formatNumber(entry.baseline)}
                {unit(entry.metric)} ({entry.strongest_baseline})
              </td>
              <td className={entry.beaten ? "verdict-beats" : "verdict-loses"}>{entry.beaten ? "beats" : "loses"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Stopped: {result.stop_reason.kind} — {result.stop_reason.message}
      </p>
    </div>
  );
}

export function DataProvenancePanel({ provenance }: { provenance: Provenance }) {
  const data = provenance.data;
  const versions = Object.entries(provenance.packages).map(([name, version]) => `${name} ${version}`);
  return (
    <div className="provenance">
      <h2>
        Data <OfflineBadge provenance={provenance} />
      </h2>
      <table className="kv">
        <tbody>
          {data ? (
            <>
              <tr>
                <td>source</td>
                <td>
                  {data.source.used}
                  {data.source.used !== data.source.requested && ` (requested: ${data.source.requested})`}
                </td>
              </tr>
              <tr>
                <td>data</td>
                <td>{data.source.description}</td>
              </tr>
              {data.source.fallback_reason && (
                <tr>
                  <td>why offline</td>
                  <td className="fallback-reason">{data.source.fallback_reason}</td>
                </tr>
              )}
              <tr>
                <td>range</td>
                <td>
                  {data.first ?? "—"} … {data.last ?? "—"}
                </td>
              </tr>
              <tr>
                <td>rows</td>
                <td>{data.rows}</td>
              </tr>
              <tr>
                <td>fingerprint</td>
                <td title={data.sha256}>
                  <code>{data.sha256.slice(0, 16)}</code>
                </td>
              </tr>
            </>
          ) : (
            <tr>
              <td>data</td>
              <td>not loaded (the run ended before its data was)</td>
            </tr>
          )}
          <tr>
            <td>seed</td>
            <td>{provenance.seed ?? "—"}</td>
          </tr>
          <tr>
            <td>app</td>
            <td>
              {provenance.app_distribution ?? "—"} {provenance.app_version ?? ""}
            </td>
          </tr>
          <tr>
            <td>versions</td>
            <td className="small">
              Python {provenance.python}, numpy {provenance.numpy}, {versions.join(", ")}
            </td>
          </tr>
        </tbody>
      </table>
    </div>
  );
}
