// Returns the visible elements whose boxes overlap (neither inside the other), those whose content spills
// out of their box, and text smaller than 11 px. A chart (uPlot's own layers) and an SVG drawing count as one element each.
const SKIP = new Set(["SCRIPT", "STYLE", "LINK", "META", "TITLE", "DATALIST", "OPTION", "BR", "HEAD", "HTML"]);
function describe(el) {
  let text = el.tagName.toLowerCase();
  if (el.id) text += "#" + el.id;
  if (typeof el.className === "string" && el.className) text += "." + el.className.trim().split(/\s+/).join(".");
  const words = (el.textContent || "").trim().slice(0, 30);
  return words ? `${text} "${words}"` : text;
}
function clipped(el) {
  const r = el.getBoundingClientRect();
  let box = { l: r.left, t: r.top, r: r.right, b: r.bottom };
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX !== "visible" || s.overflowY !== "visible") {
      const ar = a.getBoundingClientRect();
      box = { l: Math.max(box.l, ar.left), t: Math.max(box.t, ar.top), r: Math.min(box.r, ar.right), b: Math.min(box.b, ar.bottom) };
    }
  }
  return box;
}
const elements = [...document.body.querySelectorAll("*")].filter(el => {
  if (SKIP.has(el.tagName)) return false;
  const inChart = el.parentElement && el.parentElement.closest(".uplot");
  const inSvg = el instanceof SVGElement && el.tagName.toLowerCase() !== "svg";
  if (inChart || inSvg) return false;
  if (el.closest("details:not([open])") && el.tagName !== "SUMMARY" && el.tagName !== "DETAILS") return false;
  const s = getComputedStyle(el);
  if (s.display === "none" || s.visibility === "hidden" || Number(s.opacity) === 0) return false;
  const box = clipped(el);
  return box.r - box.l > 1 && box.b - box.t > 1;
});
const boxes = elements.map(clipped);
const overlaps = [];
for (let i = 0; i < elements.length; i++) {
  for (let j = i + 1; j < elements.length; j++) {
    const a = elements[i], b = elements[j];
    if (a.contains(b) || b.contains(a)) continue;
    const p = boxes[i], q = boxes[j];
    const w = Math.min(p.r, q.r) - Math.max(p.l, q.l), h = Math.min(p.b, q.b) - Math.max(p.t, q.t);
    if (w > 1 && h > 1) overlaps.push(`${describe(a)} overlaps ${describe(b)} by ${w.toFixed(0)}x${h.toFixed(0)} px`);
  }
}
const spills = [];
for (const el of elements) {
  if (["INPUT", "SELECT", "TEXTAREA", "PROGRESS", "BUTTON", "svg", "CANVAS"].includes(el.tagName)) continue;
  const s = getComputedStyle(el);
  if (s.overflowX !== "visible" || el.closest(".uplot")) continue;
  if (el.scrollWidth > el.clientWidth + 2 && el.clientWidth > 0 && s.display !== "inline") {
    let scroller = false;
    for (let a = el.parentElement; a; a = a.parentElement) if (getComputedStyle(a).overflowX !== "visible") { scroller = true; break; }
    if (!scroller) spills.push(`${describe(el)} content ${el.scrollWidth} px wide in ${el.clientWidth} px`);
  }
}
for (const el of elements) {
  const hasText = [...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  const size = parseFloat(getComputedStyle(el).fontSize);
  if (hasText && !(el instanceof SVGElement) && size < 11) spills.push(`${describe(el)} text at ${size} px is too small to read`);
}
const page = document.documentElement;
if (page.scrollWidth > page.clientWidth + 1) spills.push(`the page scrolls sideways: ${page.scrollWidth} px in ${page.clientWidth} px`);
return { count: elements.length, overlaps: overlaps.slice(0, 20), spills: spills.slice(0, 20) };
