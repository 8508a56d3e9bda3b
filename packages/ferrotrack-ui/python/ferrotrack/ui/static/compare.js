// Compare: several runs overlaid per metric, the params that differ side by side, and a
// parallel-coordinates view of an experiment's params against a chosen metric.
import { chartControls, lazyCharts, metricChart } from "./chart.js";
import { fill, fmtValue, h, loadPlotly, plotlyText, showBanner, statusBadge } from "./dom.js";

const compareDefaults = { x: "step", smoothing: 0, logY: false };

/** Legend labels: a run's name, with its id where two runs share a name. */
export function runLabels(runs) {
  const counts = {};
  for (const r of runs) counts[r.name] = (counts[r.name] || 0) + 1;
  return Object.fromEntries(runs.map((r) => [r.run_id,
    !r.name ? r.run_id : counts[r.name] > 1 ? `${r.name} (${r.run_id.slice(-6)})` : r.name]));
}

/** A parcoords dimension: numbers as they are, anything else as categories. */
export function dimension(label, values) {
  if (values.every((v) => typeof v === "number")) return { label: plotlyText(label), values };
  const cats = [...new Set(values.map((v) => fmtValue(v)))].sort();
  const index = new Map(cats.map((c, i) => [c, i]));
  return { label: plotlyText(label), values: values.map((v) => index.get(fmtValue(v))),
    tickvals: cats.map((_, i) => i), ticktext: cats };  // tick text is drawn as text
}

function paramsDiff(answer, labels) {
  let showAll = false;
  const table = h("table", { class: "diff-table", id: "params-diff" });
  const draw = () => {
    const keys = Object.keys(answer.params).filter((k) => showAll || answer.differing.includes(k));
    fill(table,
      h("thead", {}, h("tr", {}, h("th", {}, "param"), answer.runs.map((r) => h("th", {}, labels[r.run_id])))),
      h("tbody", {}, keys.length ? keys.map((k) => h("tr", { class: answer.differing.includes(k) ? "param-row param-differs" : "param-row", dataset: { param: k } },
        h("th", {}, k), answer.params[k].map((v) => h("td", {}, fmtValue(v))))) :
        h("tr", {}, h("td", { colspan: String(answer.runs.length + 1), class: "muted" }, "No param differs."))));
  };
  draw();
  const toggle = h("label", {}, h("input", { type: "checkbox", id: "diff-all", onchange: (e) => { showAll = e.target.checked; draw(); } }), " show equal params too");
  return h("div", {}, h("p", {}, `${answer.differing.length} of ${Object.keys(answer.params).length} params differ. `, toggle), h("div", { class: "table-wrap" }, table));
}

function parallelPanel(source, runs) {
  const experiments = [...new Set(runs.map((r) => r.experiment))];
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics || {})))].sort();
  const expSelect = h("select", { id: "parallel-experiment" }, experiments.map((e) => h("option", { value: e }, e)));
  const metricSelect = h("select", { id: "parallel-metric" }, metrics.map((m) => h("option", { value: m }, m)));
  const aggSelect = h("select", { id: "parallel-agg" }, ["last", "min", "max"].map((a) => h("option", { value: a }, a)));
  const plot = h("div", { class: "parallel-plot", id: "parallel-plot" });
  const note = h("p", { class: "muted" });
  async function draw() {
    if (!metricSelect.value) { note.textContent = "No metric to plot."; return; }
    try {
      const answer = await source.parallel(expSelect.value, metricSelect.value, aggSelect.value);
      const rows = answer.rows.filter((r) => typeof r.value === "number");
      const dims = answer.params.map((p) => dimension(p, rows.map((r) => r.params[p] ?? null)))
        .filter((d) => new Set(d.values).size > 1 || answer.params.length <= 6);
      dims.push({ label: plotlyText(`${metricSelect.value} (${aggSelect.value})`), values: rows.map((r) => r.value) });
      note.textContent = `${rows.length} runs of ${expSelect.value}`;
      const Plotly = await loadPlotly();
      Plotly.react(plot, [{ type: "parcoords", dimensions: dims,
        line: { color: rows.map((r) => r.value), colorscale: "Viridis", showscale: true } }],
      { height: 380, margin: { l: 60, r: 60, t: 40, b: 20 } }, { displaylogo: false, responsive: true });
    } catch (err) {
      note.textContent = err.message;
    }
  }
  for (const s of [expSelect, metricSelect, aggSelect]) s.addEventListener("change", draw);
  return { el: h("div", {}, h("div", { class: "toolbar" }, expSelect, metricSelect, aggSelect), note, plot), draw };
}

export function compareView(source, view, runIds, { onLive }) {
  if (runIds.length === 0) {
    fill(view, h("p", { class: "muted", id: "compare-empty" }, "Select runs in the runs table, then press compare."));
    return () => {};
  }
  fill(view, h("p", { class: "loading" }, "Loading…"));
  let charts = [];
  let lazy = null;
  const load = async () => {
    const answer = await source.compare(runIds);
    const labels = runLabels(answer.runs);
    const controls = chartControls(source, compareDefaults, (opts, what) => {
      Object.assign(compareDefaults, opts);
      for (const c of charts) { if (what === "x") c.reload(); else c.redraw(); }
    });
    const ids = answer.runs.map((r) => r.run_id);
    const metrics = [...new Set(answer.runs.flatMap((r) => Object.keys(r.metrics || {})))].sort();
    charts = metrics.map((name) => metricChart(source, { runIds: ids, name, labels, options: controls.options }));
    const remove = (id) => { location.hash = `#/compare?${ids.filter((x) => x !== id).map((x) => `run=${encodeURIComponent(x)}`).join("&")}`; };
    const parallel = parallelPanel(source, answer.runs);
    fill(view,
      h("h1", {}, `Compare ${answer.runs.length} runs`),
      h("table", { class: "compare-runs", id: "compare-runs" }, h("tbody", {}, answer.runs.map((r) => h("tr", { dataset: { runId: r.run_id } },
        h("td", {}, h("a", { href: `#/run/${encodeURIComponent(r.run_id)}` }, labels[r.run_id])),
        h("td", {}, r.experiment), h("td", {}, statusBadge(r.status)),
        h("td", {}, h("button", { class: "compare-remove", onclick: () => remove(r.run_id) }, "remove")))))),
      h("section", { class: "panel" }, h("h2", {}, "Params"), paramsDiff(answer, labels)),
      h("section", { class: "panel" }, h("h2", {}, "Metrics"), controls.el, h("div", { class: "charts" }, charts.map((c) => c.el))),
      h("section", { class: "panel" }, h("h2", {}, "Parallel coordinates"), parallel.el));
    parallel.draw();
    lazy = lazyCharts(charts);
    view.dataset.loaded = "true";
    return answer.runs.some((r) => r.status === "running");
  };
  load().then((running) => {
    if (!source.live || !running) return;
    onLive(async () => {
      for (const c of charts) await c.poll();
      return true;
    });
  }).catch((err) => {
    fill(view, h("p", { class: "error" }, err.message));
    showBanner(err.message);
  });
  return () => { if (lazy) lazy.disconnect(); for (const c of charts) c.destroy(); };
}
