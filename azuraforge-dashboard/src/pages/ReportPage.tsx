// An experiment's report.md, and every artifact it wrote, for download.
import { Link, useParams } from "react-router";
import { api } from "../api/client";
import { useResource } from "../api/useResource";
import { ArtifactList } from "../components/Artifact";
import { MarkdownReport } from "../components/MarkdownReport";
import { experimentTitle } from "../format";

export function ReportPage() {
  const { id = "" } = useParams();
  const experiment = useResource(`experiment:${id}`, () => api.getExperiment(id));
  const report = useResource(`report:${id}`, () => api.getReport(id));
  return (
    <section>
      <div className="page-head">
        <h1>Report{experiment.data && `: ${experimentTitle(experiment.data)}`}</h1>
        <div className="actions">
          <Link to={`/experiments/${id}`} className="button">
            Back to experiment
          </Link>
        </div>
      </div>
      <div className="report-layout">
        <div>
          {report.error && <p className="error">Could not load the report: {report.error.message}</p>}
          {report.data !== undefined ? <MarkdownReport experimentId={id} markdown={report.data} /> : !report.error && <p className="muted">Loading…</p>}
        </div>
        <aside>
          <h2>Artifacts</h2>
          {experiment.data && <ArtifactList experimentId={id} paths={experiment.data.artifacts} />}
        </aside>
      </div>
    </section>
  );
}
