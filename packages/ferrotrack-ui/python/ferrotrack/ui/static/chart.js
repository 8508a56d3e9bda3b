// One chart per metric: several runs overlaid, x by step / wall / relative time, smoothing,
// log scale, zoom that asks the server for the finer points of the zoomed range, and live
// appends of only the points written since the last answer.
import { h, plotlyText, showBanner } from "./dom.js";

export const CHART_POINTS = 2000;
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

/** Exponential moving average, debiased at the start (TensorBoard's smoothing); NaN and
 * infinite values pass through without entering the average. */
export function smooth(ys, weight) {
  if (!(weight > 0)) return ys.slice();
  const out = new Array(ys.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < ys.length; i += 1) {
    const y = ys[i];
    if (typeof y !== "number" || !Number.isFinite(y)) { out[i] = y; continue; }
    last = last * weight + (1 - weight) * y;
    n += 1;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

/** Wall-clock x values from the server (epoch numbers in s, ms, µs or ns, or ISO text) as
 * what plotly draws on a date axis, and back. */
function wallScale(sample) {
  if (typeof sample !== "number") return null;
  const abs = Math.abs(sample);
  if (abs > 1e17) return 1e-6;
  if (abs > 1e14) return 1e-3;
  if (abs > 1e11) return 1;
  return 1e3;
}

function toPlotX(xs, mode) {
  if (mode !== "wall" || xs.length === 0) return xs;
  const scale = wallScale(xs[0]);
  if (scale === null) return xs;
  return xs.map((v) => new Date(v * scale).toISOString());
}

function fromPlotX(value, mode, sample) {
  if (mode !== "wall") return Number(value);
  const ms = Date.parse(String(value).replace(" ", "T") + (String(value).includes("Z") ? "" : "Z"));
  const scale = wallScale(sample);
  if (scale === null) return new Date(ms).toISOString();
  return ms / scale;
}

let chartCount = 0;

/**
 * A chart of metric `name` for `runIds`. `labels` maps run id to a legend label; `options()`
 * returns the shared `{x, smoothing, logY}`. Returns `{el, load, poll, redraw, destroy}`.
 */
export function metricChart(source, { runIds, name, labels, options }) {
  chartCount += 1;
  const plot = h("div", { class: "chart-plot", dataset: { metric: name }, id: `chart-${chartCount}` });
  const note = h("div", { class: "chart-note" });
  const el = h("section", { class: "chart-card", dataset: { metric: name } },
    h("h3", { class: "chart-title" }, name), note, plot);
  let raw = new Map();
  let drawn = false;
  let zoom = null;
  let loading = null;
  let xMode = null;
  let rev = 0;

  async function fetchAll(range) {
    const opts = options();
    xMode = opts.x;
    const answer = await source.series(runIds, name, {
      x: opts.x, points: CHART_POINTS,
      xMin: range ? range[0] : null, xMax: range ? range[1] : null,
    });
    const next = new Map();
    for (const s of answer.series) {
      next.set(s.run_id, { x: s.x.slice(), y: s.y.slice(), cursor: s.cursor,
        downsampled: s.downsampled, total: s.total, problem: s.problem || null });
    }
    raw = next;
    redraw();
  }

  async function load() {
    if (loading) return loading;
    loading = fetchAll(null).catch((err) => {
      note.textContent = `could not load ${name}: ${err.message}`;
      note.classList.add("error");
    }).finally(() => { loading = null; });
    return loading;
  }

  function redraw() {
    const opts = options();
    const traces = [];
    runIds.forEach((id, i) => {
      const s = raw.get(id);
      if (!s) return;
      const color = PALETTE[i % PALETTE.length];
      const label = plotlyText(labels[id] || id);
      const x = toPlotX(s.x, xMode);
      const mode = s.x.length < 50 ? "lines+markers" : "lines";
      if (opts.smoothing > 0) {
        traces.push({ type: "scatter", mode, x, y: s.y, name: label, meta: id,
          line: { color, width: 1 }, opacity: 0.25, showlegend: false, hoverinfo: "skip",
          legendgroup: id });
        traces.push({ type: "scatter", mode, x, y: smooth(s.y, opts.smoothing),
          name: label, meta: id, line: { color, width: 2 }, legendgroup: id });
      } else {
        traces.push({ type: "scatter", mode, x, y: s.y, name: label, meta: id,
          line: { color, width: 1.5 } });
      }
    });
    const shown = [...raw.values()];
    const down = shown.filter((s) => s.downsampled).length;
    const problems = shown.map((s) => s.problem).filter(Boolean);
    note.textContent = problems.length ? problems.join("; ")
      : down ? `downsampled: ${down} of ${shown.length} series (zoom for detail)` : "";
    note.classList.toggle("error", problems.length > 0);
    rev += 1;
    const layout = {
      datarevision: rev, uirevision: "keep", height: 300,
      margin: { l: 55, r: 10, t: 10, b: 40 }, showlegend: runIds.length > 1,
      legend: { orientation: "h", y: -0.2 },
      xaxis: { title: { text: opts.x === "relative" ? "seconds" : opts.x },
        type: xMode === "wall" ? "date" : "linear" },
      yaxis: { type: opts.logY ? "log" : "linear" },
    };
    const config = { responsive: true, displaylogo: false };
    if (!drawn) {
      window.Plotly.newPlot(plot, traces, layout, config);
      plot.on("plotly_relayout", onRelayout);
      drawn = true;
    } else {
      window.Plotly.react(plot, traces, layout, config);
    }
    plot.dataset.revision = String(rev);
  }

  function onRelayout(event) {
    if (!source.live) return;  // a report holds only what was embedded
    if (event["xaxis.autorange"]) {
      if (zoom) { zoom = null; fetchAll(null).catch(reportError); }
      return;
    }
    const lo = event["xaxis.range[0]"] ?? (event["xaxis.range"] || [])[0];
    const hi = event["xaxis.range[1]"] ?? (event["xaxis.range"] || [])[1];
    if (lo === undefined || hi === undefined) return;
    const anyDown = [...raw.values()].some((s) => s.downsampled) || zoom !== null;
    if (!anyDown) return;
    const sample = [...raw.values()].map((s) => s.x[0]).find((v) => v !== undefined);
    zoom = [fromPlotX(lo, xMode, sample), fromPlotX(hi, xMode, sample)];
    fetchAll(zoom).catch(reportError);
  }

  function reportError(err) { showBanner(`${name}: ${err.message}`); }

  /** Appends the points written since the last answer (nothing while zoomed in). */
  async function poll() {
    if (!drawn || zoom || loading) return;
    const opts = options();
    let changed = false;
    for (const id of runIds) {
      const s = raw.get(id);
      const answer = await source.series([id], name, { x: opts.x, points: CHART_POINTS,
        after: s ? s.cursor : null });
      const got = answer.series[0];
      if (!got) continue;
      if (!s) {
        raw.set(id, { x: got.x.slice(), y: got.y.slice(), cursor: got.cursor,
          downsampled: got.downsampled, total: got.total });
        changed = true;
        continue;
      }
      s.cursor = got.cursor;
      if (got.x.length) {
        for (let i = 0; i < got.x.length; i += 1) { s.x.push(got.x[i]); s.y.push(got.y[i]); }
        changed = true;
      }
    }
    const tooMany = [...raw.values()].some((s) => s.x.length > 2 * CHART_POINTS);
    if (tooMany) await fetchAll(null);  // downsample again: the page's memory stays flat
    else if (changed) redraw();
  }

  function destroy() {
    if (drawn) window.Plotly.purge(plot);
    drawn = false;
  }

  return { el, plot, load, poll, redraw: () => { if (drawn) redraw(); }, reload: () => fetchAll(zoom), destroy };
}

/** The controls every chart of a view shares; calls `onChange(options)` on each change. */
export function chartControls(source, initial, onChange) {
  const opts = { ...initial };
  const xSelect = h("select", { class: "ctl-x", onchange: (e) => { opts.x = e.target.value; onChange(opts, "x"); } },
    ["step", "wall", "relative"].map((v) => h("option", { value: v, selected: v === opts.x }, v)));
  if (!source.live) xSelect.disabled = true;  // a report embeds the step axis only
  const smoothing = h("input", { class: "ctl-smoothing", type: "range", min: "0", max: "0.99",
    step: "0.01", value: String(opts.smoothing),
    oninput: (e) => { opts.smoothing = Number(e.target.value); smoothValue.textContent = e.target.value; onChange(opts, "smoothing"); } });
  const smoothValue = h("span", { class: "ctl-smoothing-value" }, String(opts.smoothing));
  const logY = h("input", { class: "ctl-log", type: "checkbox", checked: opts.logY,
    onchange: (e) => { opts.logY = e.target.checked; onChange(opts, "logY"); } });
  const el = h("div", { class: "chart-controls" },
    h("label", {}, "x ", xSelect),
    h("label", {}, "smoothing ", smoothing, smoothValue),
    h("label", {}, logY, " log y"));
  return { el, options: () => opts };
}

/** Loads charts as they scroll into view: a run with 200 metrics draws only what is seen. */
export function lazyCharts(charts) {
  const byEl = new Map();
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      const chart = byEl.get(entry.target);
      if (chart) chart.load();
    }
  }, { rootMargin: "300px" });
  const add = (c) => { byEl.set(c.el, c); observer.observe(c.el); };
  for (const c of charts) add(c);
  return { add, disconnect: () => observer.disconnect() };
}
