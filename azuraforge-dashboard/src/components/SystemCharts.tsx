// System metrics beside the loss: each epoch's wall time and throughput, the training process's memory and CPU.
import type { EpochTiming, SystemSample } from "../api/types";
import { LineChart } from "./LineChart";

const MB = 1024 * 1024;

export function SystemCharts({ epochs, samples }: { epochs: EpochTiming[]; samples: SystemSample[] }) {
  // Periodic samples and those taken at epoch ends, in time order.
  const timeline = [...samples, ...epochs.map((timing) => timing.system)].sort((a, b) => a.elapsed_s - b.elapsed_s);
  if (epochs.length === 0 && timeline.length === 0) return <p className="muted">No system sample yet.</p>;
  const seconds = timeline.map((s) => Math.round(s.elapsed_s));
  return (
    <div className="chart-grid system-charts">
      {epochs.length > 0 && (
        <LineChart
          title="time per epoch (s)"
          labels={epochs.map((t) => t.epoch)}
          lines={[{ label: "wall s", values: epochs.map((t) => t.wall_s) }]}
          xTitle="epoch"
          points={epochs.length <= 60}
        />
      )}
      {epochs.length > 0 && (
        <LineChart
          title="samples / s"
          labels={epochs.map((t) => t.epoch)}
          lines={[{ label: "samples/s", values: epochs.map((t) => t.samples_per_s), colour: 2 }]}
          xTitle="epoch"
          points={epochs.length <= 60}
        />
      )}
      <LineChart
        title="memory (RSS, MB)"
        labels={seconds}
        lines={[{ label: "RSS MB", values: timeline.map((s) => s.rss_bytes / MB), colour: 3 }]}
        xTitle="seconds"
        points={timeline.length <= 60}
      />
      <LineChart
        title="CPU of the training process (%, 100 = one core)"
        labels={seconds}
        lines={[{ label: "CPU %", values: timeline.map((s) => s.cpu_percent), colour: 4 }]}
        xTitle="seconds"
        points={timeline.length <= 60}
      />
      <LineChart
        title="host load (1 min)"
        labels={seconds}
        lines={[{ label: "load", values: timeline.map((s) => s.load1), colour: 5 }]}
        xTitle="seconds"
        points={timeline.length <= 60}
      />
    </div>
  );
}
