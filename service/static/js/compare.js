// "/compare?jobs=a,b": several jobs' curves overlaid, one chart per metric, and a table of how their specs
// differ (optimizer, learning rate, batch size, ...), as MLflow's run comparison and TensorBoard do.
import { api, followEvents } from "./api.js";
import { navigate } from "./app.js";
import { ChartGrid, ChartSettings, COLORS, metricGroups, smooth } from "./charts.js";
import { esc, fmtNum, statusBadge, TERMINAL } from "./util.js";

/** A spec as flat ``dotted.path -> value`` pairs (lists of scalars stay whole). */
export function flatten(value, prefix = "", out = {}) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value) && value.some(v => v && typeof v === "object")) {
    value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out));
  } else {
    out[prefix] = value;
  }
  return out;
}

function cell(value) {
  if (value === undefined) return `<span class="muted">–</span>`;
  return esc(typeof value === "string" ? value : JSON.stringify(value));
}

export async function render(view, params) {
  // "/compare?sweep=ID": a sweep's trials, best first (GET /v1/sweeps/ID ranks them by its metric).
  const sweep = params.get("sweep") ? await api(`/v1/sweeps/${encodeURIComponent(params.get("sweep"))}`) : null;
  const ids = sweep ? sweep.trials.map(t => t.id)
    : (params.get("jobs") || "").split(",").map(s => s.trim()).filter(Boolean);
  const listing = await api("/v1/jobs?limit=100");
  const title = sweep ? `Sweep ${esc(sweep.name || sweep.id)}` : "Compare";
  const ranking = sweep ? `<section class="card" id="sweep-ranking"><div class="section-head"><h2>Trials by best
      ${esc(sweep.spec.metric)} (${esc(sweep.spec.mode)})</h2><span class="muted">${esc(sweep.status)}</span></div>
      <div class="table-wrap"><table class="ranking"><thead><tr><th>#</th><th>trial</th><th>status</th><th>epochs</th>
      <th>best</th>${Object.keys(sweep.trials[0]?.values || {}).map(k => `<th>${esc(k)}</th>`).join("")}</tr></thead>
      <tbody>${sweep.trials.map((t, i) => `<tr data-id="${esc(t.id)}"><td>${i + 1}</td>
        <td><a href="/jobs/${esc(t.id)}" data-link>${esc(t.id)}</a></td><td>${statusBadge(t.status)}</td>
        <td>${t.epochs}</td><td>${t.best === null ? "–" : esc(t.best.toPrecision(4))}</td>
        ${Object.values(t.values).map(cell).map(v => `<td>${v}</td>`).join("")}</tr>`).join("")}</tbody></table></div>
    </section>` : "";
  view.innerHTML = `
    <div class="toolbar"><h1>${title}</h1><span class="muted">${ids.length} job${ids.length === 1 ? "" : "s"}</span></div>
    ${ranking}
    <details class="card picker" ${ids.length < 2 ? "open" : ""}><summary>Pick jobs</summary>
      <form id="pick"><div class="pick-list">${listing.jobs.filter(j => j.kind === "train").map(j => `
        <label><input type="checkbox" value="${esc(j.id)}" ${ids.includes(j.id) ? "checked" : ""}>
          ${esc(j.name || j.id)} <span class="id">${esc(j.id)}</span> ${statusBadge(j.status)}</label>`).join("")}</div>
        <button type="submit">Compare</button></form></details>
    <section class="card" id="compare-charts-card"><div class="section-head"><h2>Curves</h2><span id="chart-controls"></span></div>
      <div class="legend-jobs" id="legend-jobs"></div><div class="charts" id="charts"></div></section>
    <section class="card"><div class="section-head"><h2>Spec differences</h2>
      <label><input type="checkbox" id="show-all"> show identical rows</label></div>
      <div class="table-wrap" id="diff"></div></section>`;
  view.querySelector("#pick").onsubmit = event => {
    event.preventDefault();
    const chosen = [...event.target.querySelectorAll("input:checked")].map(b => b.value);
    navigate("/compare" + (chosen.length ? "?jobs=" + chosen.join(",") : ""));
  };
  if (!ids.length) {
    view.querySelector("#diff").innerHTML = `<p class="muted">Pick two or more jobs above.</p>`;
    return null;
  }

  const runs = await Promise.all(ids.map(async id => {
    const job = await api(`/v1/jobs/${encodeURIComponent(id)}`);
    const spec = await api(`/v1/jobs/${encodeURIComponent(id)}/spec`).catch(() => ({}));
    return { job, spec };
  }));
  const colorOf = i => COLORS[i % COLORS.length];
  view.querySelector("#legend-jobs").innerHTML = runs.map(({ job }, i) =>
    `<span><i style="background:${colorOf(i)}"></i><a href="/jobs/${esc(job.id)}" data-link>${esc(job.name || job.id)}</a>
      <span class="id">${esc(job.id)}</span></span>`).join("");

  const settings = new ChartSettings(() => drawCharts());
  view.querySelector("#chart-controls").innerHTML = settings.html();
  settings.bind(view.querySelector("#chart-controls"));
  const grid = new ChartGrid(view.querySelector("#charts"));

  function drawCharts() {
    const keys = [...new Set(runs.flatMap(r => Object.keys(r.job.history)))];
    const groups = new Map();
    for (const [base, members] of metricGroups(keys)) {
      const series = [];
      runs.forEach(({ job }, i) => members.forEach(key => {
        const ys = job.history[key];
        if (!ys || !ys.length) return;
        series.push({ label: `${job.name || job.id} ${key}`, xs: job.epoch.map(e => e + 1), ys: smooth(ys, settings.smoothing),
          color: colorOf(i), dash: key.startsWith("val_") ? [6, 4] : undefined });
      }));
      if (series.length) groups.set(base, { series, log: settings.log });
    }
    grid.render(groups);
  }

  function drawDiff() {
    const flat = runs.map(r => flatten({ ...r.spec, model: undefined }));
    const models = runs.map(r => JSON.stringify(r.spec.model ?? null));
    const modelLabel = models.map(m => `model ${[...new Set(models)].indexOf(m) + 1}`);
    const keys = [...new Set(flat.flatMap(f => Object.keys(f)))].filter(k => k !== "model").sort();
    const showAll = view.querySelector("#show-all").checked;
    const differs = k => new Set(flat.map(f => JSON.stringify(f[k]))).size > 1;
    const rows = keys.filter(k => showAll || differs(k));
    const result = (label, f) => `<tr class="result"><th>${label}</th>${runs.map(r => `<td>${f(r.job)}</td>`).join("")}</tr>`;
    const best = key => job => fmtNum(job.history[key]?.length ? Math.min(...job.history[key].filter(v => v != null)) : null);
    view.querySelector("#diff").innerHTML = `<table class="diff"><thead><tr><th></th>${runs.map(({ job }, i) =>
      `<th><i class="swatch" style="background:${colorOf(i)}"></i>${esc(job.name || job.id)}<div class="id">${esc(job.id)}</div></th>`).join("")}</tr></thead>
      <tbody>
      ${result("status", job => statusBadge(job.status))}
      ${result("epochs run", job => job.epoch.length)}
      ${result("final loss", job => fmtNum(job.history.loss?.at(-1)))}
      ${result("best val_loss", best("val_loss"))}
      <tr class="${new Set(models).size > 1 ? "differs" : ""}"><th>model</th>${modelLabel.map(m => `<td>${m}</td>`).join("")}</tr>
      ${rows.map(k => `<tr class="${differs(k) ? "differs" : ""}"><th><code>${esc(k)}</code></th>${flat.map(f => `<td>${cell(f[k])}</td>`).join("")}</tr>`).join("")}
      ${rows.length ? "" : `<tr><td colspan="${runs.length + 1}" class="muted">The specs are the same apart from the rows above.</td></tr>`}
      </tbody></table>`;
  }
  view.querySelector("#show-all").onchange = drawDiff;
  drawCharts();
  drawDiff();

  // Jobs still running add their epochs as their event streams push them.
  const stops = runs.filter(r => !TERMINAL.includes(r.job.status)).map(run => followEvents(run.job.id, async (type, data) => {
    if (type === "epoch" && !run.job.epoch.includes(data.epoch)) {
      run.job.epoch.push(data.epoch);
      for (const [key, value] of Object.entries(data.logs)) {
        const values = (run.job.history[key] ||= []);
        values.length = run.job.epoch.length - 1;
        values.push(value);
      }
      drawCharts();
    } else if (type === "status") {
      run.job = await api(`/v1/jobs/${encodeURIComponent(run.job.id)}`);
      drawCharts();
      drawDiff();
    }
  }));
  return () => { stops.forEach(stop => stop()); grid.destroy(); };
}
