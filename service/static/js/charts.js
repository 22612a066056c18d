// Loss and metric charts with uPlot: one chart per metric with its val_ twin, epoch ticks, hover values
// (uPlot's live legend), a log-scale toggle, TensorBoard-style smoothing and the current epoch's running values.
import { esc, fmtNum } from "./util.js";

export const COLORS = ["#1c6dd0", "#e8590c", "#2b8a3e", "#9c36b5", "#c92a2a", "#0b7285", "#5f3dc4", "#a61e4d",
  "#5c940d", "#364fc7"];
const HEIGHT = 240;

/** History keys grouped by metric: Map base -> [base, val_base] (a val_ key without its twin stands alone). */
export function metricGroups(keys) {
  const groups = new Map();
  for (const key of keys) {
    const base = key.startsWith("val_") && keys.includes(key.slice(4)) ? key.slice(4) : key;
    if (!groups.has(base)) groups.set(base, []);
    groups.get(base).push(key);
  }
  return groups;
}

/** TensorBoard's smoothing: an exponential moving average, debiased at the start. */
export function smooth(values, weight) {
  if (!weight) return values;
  let acc = 0, norm = 0;
  return values.map(v => {
    if (v == null || !Number.isFinite(v)) return v;
    acc = acc * weight + (1 - weight) * v;
    norm = norm * weight + (1 - weight);
    return acc / norm;
  });
}

/** The chart settings shared by every chart of a page (kept across reloads). */
export class ChartSettings {
  constructor(onChange) {
    this.log = localStorage.getItem("fitq-log-scale") === "1";
    this.smoothing = Number(localStorage.getItem("fitq-smoothing") || 0);
    this.onChange = onChange;
  }

  html() {
    return `<div class="chart-controls">
      <label><input type="checkbox" data-control="log" ${this.log ? "checked" : ""}> log scale</label>
      <label>smoothing <input type="range" min="0" max="0.99" step="0.01" value="${this.smoothing}" data-control="smoothing">
        <output>${this.smoothing.toFixed(2)}</output></label></div>`;
  }

  bind(root) {
    const log = root.querySelector('[data-control="log"]');
    const range = root.querySelector('[data-control="smoothing"]');
    log.onchange = () => { this.log = log.checked; localStorage.setItem("fitq-log-scale", this.log ? "1" : "0"); this.onChange(); };
    range.oninput = () => {
      this.smoothing = Number(range.value);
      range.nextElementSibling.textContent = this.smoothing.toFixed(2);
      localStorage.setItem("fitq-smoothing", String(this.smoothing));
      this.onChange();
    };
  }
}

/** The last value of a series: what the legend shows while the pointer is not over the chart. */
function lastValue(ys) {
  for (let i = ys.length - 1; i >= 0; i--) if (ys[i] != null) return ys[i];
  return null;
}

function axisValue(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

/** One chart in a card: ``update({series, log})`` where each series is {label, xs, ys, color, dash, width, faint}. */
export class MetricChart {
  constructor(parent, title) {
    this.card = document.createElement("figure");
    this.card.className = "chart";
    this.card.dataset.metric = title;
    this.card.innerHTML = `<figcaption>${esc(title)}<span class="note"></span></figcaption><div class="plot"></div>`;
    parent.append(this.card);
    this.body = this.card.querySelector(".plot");
    this.note = this.card.querySelector(".note");
    this.plot = null;
    this.signature = null;
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.body);
  }

  resize() {
    const width = Math.floor(this.body.clientWidth);
    if (this.plot && width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
  }

  update({ series, log }) {
    const xs = [...new Set(series.flatMap(s => s.xs))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const data = [xs, ...series.map(s => {
      const ys = new Array(xs.length).fill(null);
      s.xs.forEach((x, i) => { ys[index.get(x)] = s.ys[i] ?? null; });
      return ys;
    })];
    const values = series.flatMap(s => s.ys).filter(v => v != null && Number.isFinite(v));
    const canLog = values.length > 0 && values.every(v => v > 0);
    const useLog = log && canLog;
    this.note.textContent = log && !canLog ? " (linear: values ≤ 0)" : "";
    const epochSeries = series.filter(s => !s.running && !s.faint);
    this.card.dataset.points = String(epochSeries.reduce((n, s) => Math.max(n, s.ys.length), 0));
    this.card.dataset.counts = JSON.stringify(Object.fromEntries(epochSeries.map(s => [s.label, s.ys.length])));
    this.card.dataset.scale = useLog ? "log" : "linear";
    const signature = JSON.stringify([useLog, series.map(s => [s.label, s.color, s.dash, s.width, s.faint])]);
    if (this.plot && signature === this.signature) { this.plot.setData(data); return; }
    if (this.plot) this.plot.destroy();
    this.signature = signature;
    const width = Math.max(200, Math.floor(this.body.clientWidth));
    this.plot = new uPlot({
      width, height: HEIGHT,
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false, range: (u, min, max) => [Math.floor(min ?? 0), Math.max(Math.ceil(max ?? 1), Math.floor(min ?? 0) + 1)] },
        y: useLog ? { distr: 3 } : { auto: true },
      },
      axes: [
        { label: "epoch", labelSize: 18, space: 36, incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000],
          values: (u, splits) => splits.map(v => (Number.isInteger(v) ? String(v) : "")) },
        { size: 58, values: (u, splits) => splits.map(axisValue) },
      ],
      series: [
        { label: "epoch", value: (u, v, si, idx) => { const x = idx == null ? lastValue(u.data[0]) : v;
          return x == null ? "–" : Number.isInteger(x) ? String(x) : x.toFixed(2); } },
        ...series.map(s => ({
          label: s.label, stroke: s.faint ? s.color + "55" : s.color, width: s.width ?? 2, dash: s.dash, spanGaps: true,
          points: { show: !s.running && !s.faint, size: 5 },
          value: (u, v, si, idx) => fmtNum(idx == null ? lastValue(u.data[si]) : v) || "–",
        })),
      ],
    }, data, this.body);
  }

  destroy() {
    this.resizer.disconnect();
    if (this.plot) this.plot.destroy();
    this.card.remove();
  }
}

/** Keeps one MetricChart per metric in ``grid``, creating and removing them as the metrics come and go. */
export class ChartGrid {
  constructor(grid) { this.grid = grid; this.charts = new Map(); }

  render(groups) {  // groups: Map title -> series list
    for (const [title, chart] of this.charts) if (!groups.has(title)) { chart.destroy(); this.charts.delete(title); }
    for (const [title, entry] of groups) {
      if (!this.charts.has(title)) this.charts.set(title, new MetricChart(this.grid, title));
      this.charts.get(title).update(entry);
    }
  }

  destroy() { for (const chart of this.charts.values()) chart.destroy(); this.charts.clear(); }
}
