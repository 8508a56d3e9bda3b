// Building the page: every string a user controls goes in as text, never as markup.

/** An element with attributes, listeners (`onclick`) and children (strings become text). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "selected") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) appendChildren(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
  return el;
}

let plotlyLoading = null;

/** plotly.js, run the first time a chart is drawn: its 3.5 MB take a second or two to
 * run, which the runs table must not wait for. The page preloads the file (`#plotly-js`);
 * a report holds its text inline (a script element that is not run until asked). */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (plotlyLoading) return plotlyLoading;
  plotlyLoading = new Promise((resolve, reject) => {
    const failed = () => reject(new Error("plotly.js did not load: charts cannot be drawn"));
    const script = document.createElement("script");
    const inline = document.getElementById("plotly-inline");
    if (inline) {
      script.textContent = inline.textContent;  // runs as it is inserted
      document.head.append(script);
      if (window.Plotly) resolve(window.Plotly); else failed();
      return;
    }
    const link = document.getElementById("plotly-js");
    if (!link) { failed(); return; }
    script.src = link.href;
    script.onload = () => (window.Plotly ? resolve(window.Plotly) : failed());
    script.onerror = failed;
    document.head.append(script);
  });
  plotlyLoading.catch(() => { plotlyLoading = null; });  // a later chart may try again
  return plotlyLoading;
}

/** Plotly reads a few tags (`<b>`, `<br>`) in names: entities keep names as text. */
export function plotlyText(value) {
  return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A number as people read it: integers whole, others to 4 significant digits. */
export function fmtValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
    return String(Number(value.toPrecision(4)));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${Number(seconds.toPrecision(3))} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** A status badge; crashed and failed runs carry a class that makes them stand out. */
export function statusBadge(status) {
  return h("span", { class: `status status-${safeClass(status)}`, dataset: { status } }, status);
}

/** `value` reduced to what may appear in a class name. */
export function safeClass(value) {
  return String(value).replace(/[^a-zA-Z0-9_-]/g, "_");
}

/** Shows a message in the banner at the top (kind: "error", "warning" or "info"). */
export function showBanner(message, kind = "error") {
  const banner = document.getElementById("banner");
  banner.className = `banner banner-${kind}`;
  fill(banner, h("span", { class: "banner-text" }, message),
    h("button", { class: "banner-close", title: "Dismiss", onclick: hideBanner }, "×"));
  banner.hidden = false;
}

export function hideBanner() {
  const banner = document.getElementById("banner");
  banner.hidden = true;
  banner.replaceChildren();
}

/** Calls `fn` at most once per `ms`, after the last call (typing in a search box). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
}
