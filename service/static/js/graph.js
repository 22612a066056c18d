// Draws a model's layer graph (from GET /v1/jobs/{id}/summary) as SVG: layers placed in rows by their
// longest distance from an input, so inputs sit on top, outputs at the bottom, and shared layers
// (called more than once) show every edge into them.
import { esc } from "./util.js";

const W = 190, H = 54, GAP_X = 28, GAP_Y = 42;

function shapeText(shape) {
  if (!Array.isArray(shape)) return "";
  if (shape.length && Array.isArray(shape[0])) return shape.map(shapeText).join(", ");
  return "(" + shape.map(d => (d == null ? "None" : d)).join(", ") + ")";
}

/** Rows of node names: each node one row below the deepest of its sources. */
export function layers(graph) {
  const depth = new Map(graph.nodes.map(n => [n.name, 0]));
  for (let pass = 0; pass < graph.nodes.length; pass++) {
    let changed = false;
    for (const e of graph.edges) {
      const d = depth.get(e.source) + 1;
      if (d > depth.get(e.target)) { depth.set(e.target, d); changed = true; }
    }
    if (!changed) break;
  }
  const rows = [];
  for (const n of graph.nodes) (rows[depth.get(n.name)] ||= []).push(n);
  return rows.filter(Boolean);
}

/** The SVG text of a layer graph. */
export function graphSvg(graph) {
  const rows = layers(graph);
  const widest = Math.max(...rows.map(r => r.length));
  const width = widest * W + (widest - 1) * GAP_X + 8;
  const height = rows.length * H + (rows.length - 1) * GAP_Y + 8;
  const pos = new Map();
  rows.forEach((row, y) => {
    const rowWidth = row.length * W + (row.length - 1) * GAP_X;
    row.forEach((n, x) => pos.set(n.name, { x: 4 + (width - 8 - rowWidth) / 2 + x * (W + GAP_X), y: 4 + y * (H + GAP_Y) }));
  });
  const outputs = new Set(graph.outputs);
  const edges = graph.edges.map(e => {
    const a = pos.get(e.source), b = pos.get(e.target);
    const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
    const my = (y1 + y2) / 2;
    return `<path class="edge" d="M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2 - 4}" marker-end="url(#arrow)"/>`;
  }).join("");
  const nodes = graph.nodes.map(n => {
    const p = pos.get(n.name);
    const kind = n.class_name === "InputLayer" ? "input" : outputs.has(n.name) ? "output" : n.calls > 1 ? "shared" : "layer";
    const calls = n.calls > 1 ? ` ×${n.calls}` : "";
    return `<g class="node ${kind}" transform="translate(${p.x},${p.y})"><title>${esc(n.name)}: ${esc(n.class_name)}, ${n.params} params</title>
      <rect width="${W}" height="${H}" rx="6"/>
      <text x="10" y="20" class="name">${esc(n.name.length > 22 ? n.name.slice(0, 21) + "…" : n.name)}${calls}</text>
      <text x="10" y="40" class="meta">${esc(n.class_name)} ${esc(shapeText(n.output_shape))}</text></g>`;
  }).join("");
  return `<svg class="layer-graph" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img"
    aria-label="layer graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7"
    orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>${edges}${nodes}</svg>`;
}
