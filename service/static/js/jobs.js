// "/": the jobs, newest first, with status, progress and last losses; pick several to compare.
import { api } from "./api.js";
import { navigate } from "./app.js";
import { esc, fmtDuration, fmtNum, fmtTime, jobDuration, last, progressFraction, progressText, statusBadge } from "./util.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "canceled"];

export async function render(view, params) {
  const status = params.get("status") || "";
  view.innerHTML = `
    <div class="toolbar">
      <h1>Jobs</h1>
      <label>status <select id="status-filter"><option value="">all</option>
        ${STATUSES.map(s => `<option ${s === status ? "selected" : ""}>${s}</option>`).join("")}</select></label>
      <button id="compare" disabled>Compare selected</button>
      <a class="button" href="/submit" data-link>New job</a>
    </div>
    <div class="table-wrap card"><table class="jobs">
      <thead><tr><th class="pick"></th><th>job</th><th>status</th><th class="wide">progress</th><th>loss</th>
        <th class="opt">val_loss</th><th class="opt">created</th><th class="opt">ran</th></tr></thead>
      <tbody id="job-rows"><tr><td colspan="8" class="muted">Loading…</td></tr></tbody></table></div>
    <p class="muted" id="total"></p>`;
  const picked = new Set();
  const compare = view.querySelector("#compare");
  compare.onclick = () => navigate("/compare?jobs=" + [...picked].join(","));
  view.querySelector("#status-filter").onchange = e => navigate(e.target.value ? "/?status=" + e.target.value : "/", true);

  async function refresh() {
    const listing = await api("/v1/jobs?limit=200" + (status ? "&status=" + status : ""));
    const rows = view.querySelector("#job-rows");
    if (!rows) return;
    rows.innerHTML = listing.jobs.length ? listing.jobs.map(job => {
      const loss = last(job.history.loss), val = last(job.history.val_loss);
      return `<tr data-id="${esc(job.id)}" class="job-row">
        <td class="pick"><input type="checkbox" aria-label="pick ${esc(job.id)}" ${picked.has(job.id) ? "checked" : ""}></td>
        <td><a href="/jobs/${esc(job.id)}" data-link class="job-link">${esc(job.name || job.kind)}</a>
          <div class="id">${esc(job.id)}</div></td>
        <td>${statusBadge(job.status)}${job.attempt > 1 ? `<div class="id">attempt ${job.attempt}</div>` : ""}</td>
        <td class="wide"><progress max="1" value="${progressFraction(job)}"></progress><div class="id">${esc(progressText(job))}</div></td>
        <td class="num">${fmtNum(loss)}</td><td class="num opt">${fmtNum(val)}</td>
        <td class="opt">${esc(fmtTime(job.created_at))}</td><td class="opt">${esc(fmtDuration(jobDuration(job)))}</td></tr>`;
    }).join("") : `<tr><td colspan="8" class="muted">No jobs yet: <a href="/submit" data-link>submit one</a>.</td></tr>`;
    for (const box of rows.querySelectorAll("input[type=checkbox]")) {
      box.onchange = () => {
        const id = box.closest("tr").dataset.id;
        box.checked ? picked.add(id) : picked.delete(id);
        compare.disabled = picked.size < 2;
        compare.textContent = picked.size ? `Compare selected (${picked.size})` : "Compare selected";
      };
    }
    view.querySelector("#total").textContent = `${listing.total} job${listing.total === 1 ? "" : "s"}`;
  }

  await refresh();
  // The list revalidates with its ETag (304 when nothing changed); a job's own page is pushed by SSE.
  const timer = setInterval(() => refresh().catch(() => {}), 2000);
  return () => clearInterval(timer);
}
