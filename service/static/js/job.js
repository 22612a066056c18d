// "/jobs/{id}": one job — status, progress, attempts and errors, live charts pushed by Server-Sent Events,
// the History as a table (CSV / JSON download), the model's summary() and layer graph, downloads, cancel.
import { api, downloadFile, followEvents } from "./api.js";
import { ChartGrid, ChartSettings, COLORS, metricGroups, smooth } from "./charts.js";
import { graphSvg } from "./graph.js";
import { download, esc, fmtDuration, fmtNum, fmtTime, jobDuration, progressFraction, progressText, statusBadge,
  TERMINAL } from "./util.js";

/** The History as CSV (Keras's CSVLogger layout: epoch, then one column per key). */
export function historyCsv(epochs, history) {
  const keys = Object.keys(history);
  const rows = [["epoch", ...keys].join(",")];
  epochs.forEach((e, i) => rows.push([e, ...keys.map(k => history[k][i] ?? "")].join(",")));
  return rows.join("\n") + "\n";
}

export async function render(view, params, jobId) {
  let job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
  document.title = `${job.name || job.id} · fitq`;
  view.innerHTML = `
    <div class="toolbar">
      <h1 id="job-title">${esc(job.name || job.kind)}</h1><span id="job-status"></span>
      <span class="id">${esc(job.id)}</span>
      <span class="spacer"></span>
      <button id="cancel" class="danger" hidden>Cancel</button>
      <a class="button" href="/compare?jobs=${esc(job.id)}" data-link>Compare…</a>
    </div>
    <section class="card facts" id="facts"></section>
    <section class="card">
      <div class="section-head"><h2>Curves</h2><span id="chart-controls"></span></div>
      <div class="charts" id="charts"><p class="muted" id="no-epochs">No finished epoch yet.</p></div>
    </section>
    <div class="two">
      <section class="card"><div class="section-head"><h2>History</h2>
        <span class="actions"><button id="csv">CSV</button><button id="json">JSON</button></span></div>
        <div class="table-wrap" id="history"></div></section>
      <section class="card"><div class="section-head"><h2>Artifacts</h2></div>
        <p class="actions"><button id="model">model JSON</button><button id="weights">weights (.npz)</button></p>
        <p class="muted" id="artifact-note"></p>
        <h2>Events</h2><ol class="events" id="events"></ol></section>
    </div>
    <section class="card"><div class="section-head"><h2>Model</h2></div>
      <div class="model"><pre id="summary" class="summary">Loading…</pre><div class="graph-wrap" id="graph"></div></div></section>`;

  const epochs = new Map();  // epoch index -> logs, from the record and then from epoch events
  job.epoch.forEach((e, i) => epochs.set(e, Object.fromEntries(Object.entries(job.history).map(([k, v]) => [k, v[i]]))));
  let running = { epoch: null, points: [] };  // this epoch's running logs: [x, logs]
  const settings = new ChartSettings(() => drawCharts());
  view.querySelector("#chart-controls").innerHTML = settings.html();
  settings.bind(view.querySelector("#chart-controls"));
  const grid = new ChartGrid(view.querySelector("#charts"));

  function historyArrays() {
    const order = [...epochs.keys()].sort((a, b) => a - b);
    const keys = [...new Set(order.flatMap(e => Object.keys(epochs.get(e))))];
    const history = Object.fromEntries(keys.map(k => [k, order.map(e => epochs.get(e)[k] ?? null)]));
    return { order, history };
  }

  function drawCharts() {
    const { order, history } = historyArrays();
    const xs = order.map(e => e + 1);
    const groups = new Map();
    const runKeys = running.points.length ? Object.keys(running.points[running.points.length - 1][1]) : [];
    const allKeys = [...new Set([...Object.keys(history), ...runKeys])];
    for (const [base, keys] of metricGroups(allKeys)) {
      const series = [];
      keys.forEach(key => {
        const color = COLORS[key.startsWith("val_") ? 1 : 0];
        const ys = history[key] || [];
        if (!ys.length) return;
        if (settings.smoothing > 0) series.push({ label: `${key} (raw)`, xs, ys, color, width: 1, faint: true });
        series.push({ label: key, xs, ys: smooth(ys, settings.smoothing), color, dash: key.startsWith("val_") ? [6, 4] : undefined });
      });
      if (running.points.length && running.points.some(([, logs]) => logs[base] != null)) {
        const pts = running.points.filter(([, logs]) => logs[base] != null);
        series.push({ label: `${base} (epoch ${running.epoch + 1}, running)`, xs: pts.map(([x]) => x), ys: pts.map(([, l]) => l[base]),
          color: COLORS[2], width: 1.5, dash: [2, 3], running: true });
      }
      if (series.length) groups.set(base, { series, log: settings.log });
    }
    view.querySelector("#no-epochs")?.toggleAttribute("hidden", groups.size > 0);
    grid.render(groups);
  }

  function drawHistory() {
    const { order, history } = historyArrays();
    const keys = Object.keys(history);
    view.querySelector("#history").innerHTML = order.length ? `<table class="history"><thead><tr><th>epoch</th>
      ${keys.map(k => `<th>${esc(k)}</th>`).join("")}</tr></thead><tbody>${order.map((e, i) => `<tr><td class="num">${e + 1}</td>
      ${keys.map(k => `<td class="num">${fmtNum(history[k][i])}</td>`).join("")}</tr>`).join("")}</tbody></table>`
      : `<p class="muted">No finished epoch yet.</p>`;
  }

  function drawFacts() {
    view.querySelector("#job-status").innerHTML = statusBadge(job.status);
    const cancel = view.querySelector("#cancel");
    cancel.hidden = !["queued", "running"].includes(job.status);
    cancel.disabled = job.cancel_requested;
    cancel.textContent = job.cancel_requested ? "Cancel requested…" : "Cancel";
    view.querySelector("#facts").innerHTML = `
      <div class="progress-line"><progress max="1" value="${progressFraction(job)}"></progress>
        <span id="progress-text">${esc(progressText(job))}</span></div>
      <dl>
        <div><dt>attempt</dt><dd>${job.attempt}</dd></div>
        <div><dt>created</dt><dd>${esc(fmtTime(job.created_at))}</dd></div>
        <div><dt>started</dt><dd>${esc(fmtTime(job.started_at)) || "–"}</dd></div>
        <div><dt>finished</dt><dd>${esc(fmtTime(job.finished_at)) || "–"}</dd></div>
        <div><dt>ran</dt><dd>${esc(fmtDuration(jobDuration(job))) || "–"}</dd></div>
        <div><dt>kind</dt><dd>${esc(job.kind)}</dd></div>
      </dl>
      ${job.error ? `<p class="error" id="job-error"><b>${esc(job.error.type)}</b>: ${esc(job.error.message)}</p>` : ""}`;
    view.querySelector("#weights").disabled = job.status !== "succeeded";
    view.querySelector("#artifact-note").textContent = job.status === "succeeded" ? ""
      : "Weights come when the job has succeeded; the model JSON is the submitted one until then.";
  }

  async function drawEvents() {
    try {
      const { events } = await api(`/v1/jobs/${encodeURIComponent(jobId)}/log`);
      const lines = events.filter(e => e.type !== "epoch").map(e => {
        const d = e.data;
        const text = e.type === "status" ? `${d.status}${d.attempt ? ` (attempt ${d.attempt})` : ""}`
          + (d.error ? ` — ${d.error.type}: ${d.error.message}` : "") : "cancel requested";
        return `<li><time>${esc(new Date(e.time * 1000).toLocaleTimeString())}</time> ${esc(text)}</li>`;
      });
      const list = view.querySelector("#events");
      if (list) list.innerHTML = lines.join("");
    } catch { /* the list stays as it was */ }
  }

  async function drawModel() {
    try {
      const body = await api(`/v1/jobs/${encodeURIComponent(jobId)}/summary`);
      view.querySelector("#summary").textContent = body.summary;
      view.querySelector("#graph").innerHTML = graphSvg(body.graph);
    } catch (err) {
      view.querySelector("#summary").textContent = err.message;
    }
  }

  let pending = false;
  function redraw() {  // at most once a frame, however fast events arrive
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; drawFacts(); drawCharts(); drawHistory(); });
  }

  view.querySelector("#cancel").onclick = async () => {
    try { job = await api(`/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" }); redraw(); drawEvents(); }
    catch (err) { alert(err.message); }
  };
  view.querySelector("#csv").onclick = () => { const { order, history } = historyArrays(); download(`${jobId}-history.csv`, historyCsv(order, history), "text/csv"); };
  view.querySelector("#json").onclick = () => { const { order, history } = historyArrays(); download(`${jobId}-history.json`, JSON.stringify({ epoch: order, history }, null, 2), "application/json"); };
  view.querySelector("#model").onclick = () => downloadFile(`/v1/jobs/${encodeURIComponent(jobId)}/model`, `${jobId}-model.json`).catch(e => alert(e.message));
  view.querySelector("#weights").onclick = () => downloadFile(`/v1/jobs/${encodeURIComponent(jobId)}/weights`, `${jobId}-weights.npz`).catch(e => alert(e.message));

  drawFacts(); drawCharts(); drawHistory(); drawEvents(); drawModel();

  let stop = () => {};
  if (!TERMINAL.includes(job.status)) {
    stop = followEvents(jobId, async (type, data) => {
      if (type === "epoch") {
        epochs.set(data.epoch, data.logs);
        if (running.epoch === data.epoch) running = { epoch: null, points: [] };
      } else if (type === "progress") {
        job.progress = data;
        if (data.steps && data.batch > 0 && !epochs.has(data.epoch)) {
          if (running.epoch !== data.epoch) running = { epoch: data.epoch, points: [] };
          running.points.push([data.epoch + data.batch / data.steps, data.logs]);
        }
      } else if (type === "cancel_requested") {
        job.cancel_requested = true;
        drawEvents();
      } else if (type === "status") {
        job.status = data.status;
        if (TERMINAL.includes(data.status)) running = { epoch: null, points: [] };
        job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);  // timings, attempt, error, final History
        job.epoch.forEach((e, i) => epochs.set(e, Object.fromEntries(Object.entries(job.history).map(([k, v]) => [k, v[i]]))));
        drawEvents();
      }
      redraw();
    });
  }
  return () => { stop(); grid.destroy(); };
}
