// A bar chart through Chart.js: a classifier's probability for each class.
import { BarElement, CategoryScale, Chart, LinearScale, Tooltip, type ChartOptions } from "chart.js";
import { Bar } from "react-chartjs-2";
import { useTheme } from "../theme";

Chart.register(CategoryScale, LinearScale, BarElement, Tooltip);

interface Props {
  title: string;
  labels: string[];
  values: number[];
  /** The bar drawn in the accent colour (the top class). */
  highlight?: number;
}

export function BarChart({ title, labels, values, highlight }: Props) {
  const theme = useTheme();
  const text = theme === "dark" ? "#cbd5e1" : "#334155";
  const grid = theme === "dark" ? "rgba(148, 163, 184, 0.18)" : "rgba(100, 116, 139, 0.18)";
  const options: ChartOptions<"bar"> = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { display: false } },
    scales: {
      x: { ticks: { color: text }, grid: { color: grid } },
      y: { min: 0, max: 1, ticks: { color: text }, grid: { color: grid } },
    },
  };
  const colours = values.map((_, index) => (index === highlight ? "#f97316" : "#3b82f6"));
  const data = { labels, datasets: [{ label: title, data: values, backgroundColor: colours }] };
  return (
    <figure className="chart" data-points={labels.length} aria-label={title}>
      <figcaption>{title}</figcaption>
      <div className="chart-canvas">
        <Bar options={options} data={data} />
      </div>
    </figure>
  );
}
