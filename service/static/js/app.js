// The dashboard's router: each view has its own URL (History API), so back / forward and reload work.
import { api, token } from "./api.js";
import * as comparePage from "./compare.js";
import * as datasetsPage from "./datasets.js";
import * as jobPage from "./job.js";
import * as jobsPage from "./jobs.js";
import * as submitPage from "./submit.js";
import { esc } from "./util.js";

const ROUTES = [
  [/^\/$/, "jobs", jobsPage],
  [/^\/jobs\/([^/]+)$/, "jobs", jobPage],
  [/^\/datasets$/, "datasets", datasetsPage],
  [/^\/compare$/, "compare", comparePage],
  [/^\/submit$/, "submit", submitPage],
];

const view = document.getElementById("view");
let cleanup = null;

/** Shows the view of the current URL. */
async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const found = ROUTES.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", found && a.dataset.nav === found[1]);
  view.innerHTML = "";
  if (!found) { view.innerHTML = `<p class="error">No page at ${esc(path)}.</p>`; return; }
  const [re, , page] = found;
  const args = path.match(re).slice(1).map(decodeURIComponent);
  try {
    cleanup = await page.render(view, new URLSearchParams(location.search), ...args) || null;
  } catch (err) {
    view.innerHTML = `<p class="error">${esc(err.message)}</p>`;
  }
}

/** Goes to ``url`` inside the dashboard (a new history entry unless ``replace``). */
export function navigate(url, replace = false) {
  history[replace ? "replaceState" : "pushState"]({}, "", url);
  route();
}

document.addEventListener("click", event => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  if (a.getAttribute("href") !== location.pathname + location.search) navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

const tokenBox = document.getElementById("token");
tokenBox.value = token.get();
tokenBox.onchange = () => { token.set(tokenBox.value); route(); };

async function health() {
  const el = document.getElementById("health");
  try {
    const h = await api("/healthz");
    el.textContent = `${h.workers} worker${h.workers === 1 ? "" : "s"} · redis ${h.redis ? "up" : "down"} · v${h.version}`;
    el.classList.toggle("bad", !h.redis);
  } catch (err) {
    el.textContent = "server unreachable";
    el.classList.add("bad");
  }
}
health();
setInterval(health, 10000);
route();
