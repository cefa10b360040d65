// One chart for the loss, then one per metric, each training value drawn with its validation twin.
import type { Series } from "../live/series";
import { LineChart } from "./LineChart";

export function SeriesCharts({ series }: { series: Series }) {
  const bases = [...new Set(Object.keys(series.values).map((name) => name.replace(/^val_/, "")))].sort(
    (a, b) => Number(b === "loss") - Number(a === "loss") || a.localeCompare(b),
  );
  return (
    <div className="chart-grid">
      {bases.map((base) => {
        const lines = [base, `val_${base}`]
          .filter((name) => series.values[name])
          .map((name) => ({ label: name, values: series.values[name] ?? [], dashed: name.startsWith("val_") }));
        return <LineChart key={base} title={base} labels={series.epochs} lines={lines} xTitle="epoch" points={series.epochs.length <= 60} />;
      })}
    </div>
  );
}
