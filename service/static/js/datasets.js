// "/datasets": the uploaded datasets with their arrays, shapes and sizes; upload and delete.
import { api } from "./api.js";
import { esc, fmtBytes, fmtTime } from "./util.js";

function arraysText(ds) {
  const arrays = Object.entries(ds.arrays || {});
  if (arrays.length) {
    return `<ul class="arrays">${arrays.map(([name, a]) =>
      `<li><code>${esc(name)}</code> <span class="muted">(${a.shape.join(", ")}) ${esc(a.dtype)}</span></li>`).join("")}</ul>`;
  }
  if (ds.images) return `<span class="muted">${esc(JSON.stringify(ds.images).slice(0, 120))}</span>`;
  return "";
}

export async function render(view) {
  view.innerHTML = `
    <div class="toolbar"><h1>Datasets</h1></div>
    <section class="card">
      <form id="upload" class="upload">
        <label>file (.npz, .npy, .csv, image-folder .zip / .tar) <input type="file" name="file" id="upload-file" required></label>
        <button type="submit">Upload</button><span id="upload-status" class="muted"></span>
      </form>
    </section>
    <div class="table-wrap card"><table class="datasets">
      <thead><tr><th>dataset</th><th>format</th><th>size</th><th>arrays (shape, dtype)</th><th class="opt">uploaded</th><th></th></tr></thead>
      <tbody id="dataset-rows"><tr><td colspan="6" class="muted">Loading…</td></tr></tbody></table></div>`;

  async function refresh() {
    const { datasets } = await api("/v1/datasets");
    view.querySelector("#dataset-rows").innerHTML = datasets.length ? datasets.map(ds => `
      <tr data-id="${esc(ds.id)}"><td>${esc(ds.name)}<div class="id">${esc(ds.id)}</div></td><td>${esc(ds.format)}</td>
        <td class="num">${fmtBytes(ds.bytes)}</td><td>${arraysText(ds)}</td><td class="opt">${esc(fmtTime(ds.created_at))}</td>
        <td><button class="danger delete">Delete</button></td></tr>`).join("")
      : `<tr><td colspan="6" class="muted">No datasets yet: upload one above.</td></tr>`;
    for (const button of view.querySelectorAll("button.delete")) {
      button.onclick = async () => {
        const id = button.closest("tr").dataset.id;
        if (!confirm(`Delete dataset ${id}? Jobs that trained on it keep their results.`)) return;
        try { await api(`/v1/datasets/${encodeURIComponent(id)}`, { method: "DELETE" }); await refresh(); }
        catch (err) { alert(err.message); }
      };
    }
  }

  view.querySelector("#upload").onsubmit = async event => {
    event.preventDefault();
    const status = view.querySelector("#upload-status");
    const form = new FormData(event.target);
    status.textContent = "uploading…";
    try {
      const ds = await api("/v1/datasets", { method: "POST", body: form });
      status.textContent = `uploaded ${ds.id}`;
      event.target.reset();
      await refresh();
    } catch (err) {
      status.textContent = err.message;
      status.className = "error";
    }
  };
  await refresh();
}
