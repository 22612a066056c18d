// Escaping, formatting and element building shared by the pages.
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for HTML. */
export function esc(value) { return String(value ?? "").replace(/[&<>"']/g, c => ESCAPES[c]); }

export const TERMINAL = ["succeeded", "failed", "canceled"];

export function fmtNum(v, digits = 4) {
  if (v == null || Number.isNaN(v)) return "";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return v.toFixed(digits);
}

export function fmtTime(ts) { return ts ? new Date(ts * 1000).toLocaleString() : ""; }

export function fmtDuration(seconds) {
  if (seconds == null) return "";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function last(list) { return list && list.length ? list[list.length - 1] : null; }

/** How long a job ran (or has been running). */
export function jobDuration(job) {
  if (!job.started_at) return null;
  return (job.finished_at || Date.now() / 1000) - job.started_at;
}

export function statusBadge(status) { return `<span class="badge ${esc(status)}">${esc(status)}</span>`; }

/** A progress bar and its text for a job's ``progress`` (none before it starts). */
export function progressText(job) {
  const p = job.progress;
  if (!p) return job.status === "queued" ? "waiting for a worker" : "";
  const steps = p.steps ? ` · batch ${p.batch}/${p.steps}` : "";
  return `epoch ${p.epoch + 1}/${p.epochs ?? "?"}${steps}`;
}

export function progressFraction(job) {
  const p = job.progress;
  if (job.status === "succeeded") return 1;
  if (!p || !p.epochs) return 0;
  const within = p.steps ? p.batch / p.steps : 0;
  return Math.min(1, (p.epoch + within) / p.epochs);
}

/** Downloads ``text`` as a file named ``name``. */
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
