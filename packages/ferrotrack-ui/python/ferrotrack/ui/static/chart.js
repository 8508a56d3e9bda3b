// One chart per metric: several runs overlaid, x by step / wall / relative time, smoothing,
// log scale, zoom that asks the server for the finer points of the zoomed range, and live
// appends of only the points written since the last answer.
import { h, loadPlotly, plotlyText, showBanner } from "./dom.js";
import { localToWall, reducePoints, wallToLocal } from "./points.js";

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

/** x values as plotly draws them: wall time (ms since the epoch) as local dates. */
function toPlotX(xs, mode) {
  return mode === "wall" ? xs.map(wallToLocal) : xs;
}

/** A zoom bound plotly reports, in the server's unit for `mode`. */
function fromPlotX(value, mode) {
  return mode === "wall" ? localToWall(value) : Number(value);
}

/** The x axis' title: what the numbers are, with their unit. */
export const X_TITLES = { step: "step", wall: "wall time (local)", relative: "seconds since start" };

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
  let generation = 0;  // bumped by every full fetch: an older answer is dropped

  function entry(s) {
    return { x: s.x.slice(), y: s.y.slice(), cursor: s.cursor, downsampled: s.downsampled,
      total: s.total, problem: s.problem || null };
  }

  async function fetchAll(range) {
    const opts = options();
    const mine = ++generation;
    const answer = await source.series(runIds, name, {
      x: opts.x, points: CHART_POINTS,
      xMin: range ? range[0] : null, xMax: range ? range[1] : null,
    });
    await loadPlotly();
    if (mine !== generation) return;  // a newer fetch (zoom, x change) was made meanwhile
    xMode = opts.x;
    raw = new Map(answer.series.map((s) => [s.run_id, entry(s)]));
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
      xaxis: { title: { text: X_TITLES[xMode] || "" }, type: xMode === "wall" ? "date" : "linear" },
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
    zoom = [fromPlotX(lo, xMode), fromPlotX(hi, xMode)];
    fetchAll(zoom).catch(reportError);
  }

  function reportError(err) { showBanner(`${name}: ${err.message}`); }

  /** Appends the points written since the last answer, every run in one request with its
   * own cursor (nothing while zoomed in). A series past twice CHART_POINTS is reduced
   * here, as the server would, so a run logging for hours keeps the page's memory flat. */
  async function poll() {
    if (!drawn || zoom || loading || xMode !== options().x) return;
    const mine = generation;
    const cursors = {};
    for (const [id, s] of raw) cursors[id] = s.cursor;
    const answer = await source.series(runIds, name, { x: xMode, points: CHART_POINTS, after: cursors });
    if (mine !== generation || zoom) return;  // a zoom or a new x axis replaced the points
    let changed = false;
    for (const got of answer.series) {
      const s = raw.get(got.run_id);
      if (!s) { raw.set(got.run_id, entry(got)); changed = true; continue; }
      s.cursor = got.cursor;
      s.problem = got.problem || null;
      if (!got.x.length) continue;
      for (let i = 0; i < got.x.length; i += 1) { s.x.push(got.x[i]); s.y.push(got.y[i]); }
      s.downsampled = s.downsampled || got.downsampled;
      s.total += got.total;
      if (s.x.length > 2 * CHART_POINTS) {
        const kept = reducePoints(s.x, s.y, CHART_POINTS);
        s.x = kept.x;
        s.y = kept.y;
        s.downsampled = true;
      }
      changed = true;
    }
    if (changed) redraw();
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
