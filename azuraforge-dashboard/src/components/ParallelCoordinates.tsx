// Parallel coordinates as plain SVG: an axis per field and one for the metric, a line per run coloured by how
// good its metric is, the best drawn last (on top). Hovering a line names the run and its values.
import { formatValue } from "../format";
import { makeAxis, standingColour, standings, type ParallelRow } from "../parallel";

interface Props {
  fields: string[];
  rows: ParallelRow[];
  metric: string;
  direction: "lower" | "higher";
  title: string;
  /** Fields whose numbers are spread on a known scale (a sweep's `log` ranges); others are chosen by their values. */
  scales?: Record<string, "linear" | "log">;
}

const HEIGHT = 300;
const TOP = 36;
const BOTTOM = 44;
const SIDE = 70;
const SPACING = 150;
const MIN_SPAN = 480; // few axes still get a readable width

export function ParallelCoordinates({ fields, rows, metric, direction, title, scales = {} }: Props) {
  const axes = [
    ...fields.map((field) => makeAxis(field, rows.map((row) => row.values[field]), scales[field])),
    makeAxis(metric, rows.map((row) => row.score)),
  ];
  const spacing = Math.max(SPACING, MIN_SPAN / Math.max(1, axes.length - 1));
  const width = SIDE * 2 + spacing * Math.max(1, axes.length - 1);
  const x = (index: number) => SIDE + (axes.length === 1 ? 0 : index * spacing);
  const y = (at: number) => TOP + (1 - at) * (HEIGHT - TOP - BOTTOM);
  const standing = standings(rows, direction);
  // Unscored runs first, then worst to best, so the best line is on top.
  const drawn = [...rows].sort((a, b) => (standing.get(a.id) ?? -1) - (standing.get(b.id) ?? -1));
  const valueOf = (row: ParallelRow, index: number) => (index < fields.length ? row.values[fields[index] ?? ""] : row.score);
  return (
    <figure className="parallel" aria-label={title}>
      <figcaption>
        Each line is a run, from red (worst {metric}) to green (best, {direction} is better); grey dashed lines
        have no {metric} yet. Hover a line for its values.
      </figcaption>
      <svg viewBox={`0 0 ${width} ${HEIGHT}`} width={width} height={HEIGHT} role="img" aria-label={title}>
        {drawn.map((row) => {
          let path = "";
          let pen = "M";
          axes.forEach((axis, index) => {
            const at = axis.at(valueOf(row, index));
            if (at === null) {
              pen = "M"; // a gap where the run has no value
              return;
            }
            path += `${pen}${x(index)},${y(at).toFixed(1)} `;
            pen = "L";
          });
          const rank = standing.get(row.id);
          const details = axes.map((axis, index) => `${axis.name} = ${formatValue(valueOf(row, index) ?? undefined)}`);
          return (
            <path
              key={row.id}
              d={path.trim()}
              data-row={row.id}
              data-standing={rank ?? ""}
              fill="none"
              stroke={rank === undefined ? "var(--muted)" : standingColour(rank)}
              strokeWidth={rank === 1 ? 3 : 1.5}
              strokeDasharray={rank === undefined ? "4 3" : undefined}
              opacity={rank === undefined ? 0.6 : 0.85}
            >
              <title>{`${row.label}\n${details.join("\n")}`}</title>
            </path>
          );
        })}
        {axes.map((axis, index) => (
          <g key={axis.name} data-axis={axis.name} data-kind={axis.kind}>
            <line x1={x(index)} x2={x(index)} y1={y(1)} y2={y(0)} stroke="var(--text)" strokeWidth={1} />
            <text x={x(index)} y={TOP - 16} textAnchor="middle" className="parallel-axis" fill="var(--text)">
              {axis.name}
              {axis.kind === "log" ? " (log)" : ""}
            </text>
            {axis.ticks.map((tick) => (
              <text key={tick.label} x={x(index) + 5} y={y(tick.at) + 4} className="parallel-tick" fill="var(--muted)">
                {tick.label}
              </text>
            ))}
          </g>
        ))}
      </svg>
    </figure>
  );
}
