// A line chart through Chart.js: per-epoch curves, overlaid runs, predictions against actual values.
import {
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineElement,
  PointElement,
  Tooltip,
  type ChartOptions,
} from "chart.js";
import { Line } from "react-chartjs-2";
import { useTheme } from "../theme";

Chart.register(CategoryScale, LinearScale, PointElement, LineElement, Legend, Tooltip);

const PALETTE = ["#3b82f6", "#f97316", "#10b981", "#e11d48", "#8b5cf6", "#eab308", "#06b6d4", "#a16207"];

export interface ChartLine {
  label: string;
  values: (number | null)[];
  /** Lines sharing a colour index are drawn in the same colour (a run's loss and val_loss). */
  colour?: number;
  dashed?: boolean;
}

interface Props {
  title: string;
  labels: (number | string)[];
  lines: ChartLine[];
  xTitle: string;
  /** Draw dots on the points: useful for few epochs, noise for many points. */
  points?: boolean;
}

export function LineChart({ title, labels, lines, xTitle, points = true }: Props) {
  const theme = useTheme();
  const text = theme === "dark" ? "#cbd5e1" : "#334155";
  const grid = theme === "dark" ? "rgba(148, 163, 184, 0.18)" : "rgba(100, 116, 139, 0.18)";
  const options: ChartOptions<"line"> = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    spanGaps: true,
    plugins: { legend: { labels: { color: text, boxWidth: 12 } } },
    scales: {
      x: { title: { display: true, text: xTitle, color: text }, ticks: { color: text, maxTicksLimit: 12 }, grid: { color: grid } },
      y: { ticks: { color: text }, grid: { color: grid } },
    },
  };
  const data = {
    labels,
    datasets: lines.map((line, index) => {
      const colour = PALETTE[(line.colour ?? index) % PALETTE.length];
      return {
        label: line.label,
        data: line.values,
        borderColor: colour,
        backgroundColor: colour,
        borderDash: line.dashed ? [6, 4] : [],
        borderWidth: 2,
        pointRadius: points ? 2.5 : 0,
      };
    }),
  };
  return (
    <figure className="chart" data-points={labels.length} aria-label={title}>
      <figcaption>{title}</figcaption>
      <div className="chart-canvas">
        <Line options={options} data={data} />
      </div>
    </figure>
  );
}
