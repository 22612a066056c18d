// The REST API as the dashboard calls it: the bearer token, JSON errors, and Server-Sent Events.
import { TERMINAL } from "./util.js";

export const token = {
  get: () => localStorage.getItem("fitq-token") || "",
  set: value => localStorage.setItem("fitq-token", value),
};

function headers(extra = {}) {
  const t = token.get();
  return t ? { ...extra, Authorization: "Bearer " + t } : extra;
}

/** An error answer of the API: ``status``, ``type``, ``message``, ``field``. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type;
    this.field = error.field;
  }
}

/** Calls the API; JSON in (``json``) or a FormData (``body``), JSON out. Reads revalidate with the ETag. */
export async function api(path, { method = "GET", json, body } = {}) {
  const init = { method, cache: "no-cache", headers: headers(json !== undefined ? { "Content-Type": "application/json" } : {}) };
  if (json !== undefined) init.body = JSON.stringify(json);
  else if (body !== undefined) init.body = body;
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || { message: response.statusText });
  return data;
}

/** A file of the API (model, weights) downloaded with the token, saved under ``name``. */
export async function downloadFile(path, name) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error.message; } catch { /* not JSON */ }
    throw new ApiError(response.status, { message });
  }
  const url = URL.createObjectURL(await response.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function parseBlock(block) {
  let event = "message", id = null;
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const key = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (key === "event") event = value;
    else if (key === "data") data.push(value);
    else if (key === "id") id = value;
  }
  return data.length ? { event, id, data: JSON.parse(data.join("\n")) } : null;
}

/**
 * Follows a job's Server-Sent Events (fetch, so the bearer token travels): calls ``onEvent(type, data)``
 * for each, reconnects with ``Last-Event-ID`` after a drop, stops after a final status. Returns a stop function.
 */
export function followEvents(jobId, onEvent) {
  const controller = new AbortController();
  let stopped = false, lastId = null;
  (async () => {
    let delay = 500;
    while (!stopped) {
      try {
        const h = headers({ Accept: "text/event-stream" });
        if (lastId) h["Last-Event-ID"] = lastId;
        const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers: h, signal: controller.signal });
        if (!response.ok) throw new ApiError(response.status, {});
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let match;
          while ((match = /\r?\n\r?\n/.exec(buffer))) {
            const parsed = parseBlock(buffer.slice(0, match.index));
            buffer = buffer.slice(match.index + match[0].length);
            if (!parsed) continue;
            if (parsed.id) lastId = parsed.id;
            onEvent(parsed.event, parsed.data);
            if (parsed.event === "status" && TERMINAL.includes(parsed.data.status)) { stopped = true; return; }
          }
        }
        delay = 500;
      } catch (err) {
        if (stopped || err.name === "AbortError") return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) return;
      }
      if (!stopped) { await new Promise(r => setTimeout(r, delay)); delay = Math.min(delay * 2, 8000); }
    }
  })();
  return () => { stopped = true; controller.abort(); };
}
