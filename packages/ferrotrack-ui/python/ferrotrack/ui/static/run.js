// A run: status with its error and traceback, params (nested), tags, events on a timeline,
// a chart per metric, artifacts with preview and download, logs tailed while it runs.
import { chartControls, lazyCharts, metricChart } from "./chart.js";
import { fill, fmtBytes, fmtDuration, fmtTime, fmtValue, h, loadPlotly, plotlyText, showBanner, statusBadge } from "./dom.js";

const LOG_CHUNK = 65536;
const LOG_TAIL = 256 * 1024;  // what the page keeps of a log
const chartDefaults = { x: "step", smoothing: 0, logY: false };

/** Nested params as a tree of definition lists. */
export function paramsTree(params) {
  if (params === null || typeof params !== "object" || Array.isArray(params)) {
    return h("span", { class: "param-value" }, fmtValue(params));
  }
  const keys = Object.keys(params);
  if (keys.length === 0) return h("span", { class: "muted" }, "(none)");
  return h("dl", { class: "params-tree" }, keys.map((k) => [
    h("dt", {}, k),
    h("dd", {}, paramsTree(params[k])),
  ]));
}

function section(title, ...body) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...body);
}

function eventsTimeline(events) {
  const plot = h("div", { class: "events-plot" });
  const list = h("table", { class: "events-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "kind"), h("th", {}, "level"), h("th", {}, "name"), h("th", {}, "data"))),
    h("tbody", {}, events.map((e) => h("tr", { class: `event-row level-${String(e.level || "").replace(/[^a-z]/gi, "")}` },
      h("td", {}, fmtTime(e.time)), h("td", {}, e.kind), h("td", {}, e.level ?? ""), h("td", {}, e.name ?? ""),
      h("td", { class: "event-data" }, e.data === null || e.data === undefined ? "" : JSON.stringify(e.data))))));
  const draw = async () => {
    const kinds = [...new Set(events.map((e) => String(e.kind)))];
    const Plotly = await loadPlotly();
    Plotly.newPlot(plot, kinds.map((kind) => {
      const mine = events.filter((e) => String(e.kind) === kind);
      return { type: "scatter", mode: "markers", name: plotlyText(kind), x: mine.map((e) => e.time),
        y: mine.map(() => plotlyText(kind)), text: mine.map((e) => plotlyText(`${e.name ?? ""} ${e.level ?? ""}`)),
        marker: { size: 10 } };
    }), { height: 60 + 30 * kinds.length, margin: { l: 90, r: 10, t: 10, b: 30 }, showlegend: false,
      xaxis: { type: "date" } }, { displaylogo: false, responsive: true });
  };
  return { el: h("div", {}, plot, h("details", {}, h("summary", {}, `${events.length} events`), list)), draw };
}

/** Artifacts listed with preview and download; `update` redraws the list when the run has
 * written more (the preview shown stays). */
function artifactsPanel(source, runId) {
  const preview = h("div", { class: "artifact-preview", id: "artifact-preview" });
  async function show(artifact) {
    const url = source.artifactUrl(runId, artifact.path);
    if (artifact.kind === "image" && url) {
      fill(preview, h("p", {}, artifact.path), h("img", { src: url, alt: artifact.path, class: "artifact-image" }));
      return;
    }
    fill(preview, h("p", { class: "muted" }, `loading ${artifact.path}…`));
    try {
      const answer = await source.preview(runId, artifact.path);
      if (answer.columns) {
        fill(preview, h("p", {}, artifact.path), h("div", { class: "table-wrap" }, h("table", { class: "preview-table" },
          h("thead", {}, h("tr", {}, answer.columns.map((c) => h("th", {}, c)))),
          h("tbody", {}, (answer.rows || []).map((r) => h("tr", {}, (Array.isArray(r) ? r : answer.columns.map((c) => r[c])).map((v) => h("td", {}, fmtValue(v)))))))));
      } else {
        fill(preview, h("p", {}, artifact.path), h("pre", { class: "artifact-text" }, answer.text ?? ""));
      }
    } catch (err) {
      fill(preview, h("p", { class: "error" }, `${artifact.path}: ${err.message}`));
    }
  }
  const row = (a) => {
    const url = source.artifactUrl(runId, a.path);
    return h("tr", { class: "artifact-row", dataset: { path: a.path } },
      h("td", {}, a.path), h("td", { class: "num" }, fmtBytes(a.size)), h("td", {}, a.kind),
      h("td", {}, a.kind !== "binary" && source.live ? h("button", { class: "artifact-show", onclick: () => show(a) }, "preview") : null,
        url ? h("a", { href: url, download: a.path.split("/").pop(), class: "artifact-download" }, "download") : null));
  };
  const body = h("tbody", {});
  let shown = null;
  function update(artifacts) {
    const signature = JSON.stringify(artifacts);
    if (signature === shown) return;
    shown = signature;
    fill(body, artifacts.map(row));
  }
  const el = h("div", {}, h("table", { class: "artifacts-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "path"), h("th", {}, "size"), h("th", {}, "kind"), h("th", {}, ""))),
    body), preview);
  return { el, update };
}

/** The events timeline and list; `update` redraws them when the run has logged more. */
function eventsPanel() {
  const el = h("div", { id: "run-events" });
  let shown = null;
  function update(events) {
    const last = events.length ? events[events.length - 1] : null;
    const signature = `${events.length}:${last ? last.time : ""}`;
    if (signature === shown) return;
    shown = signature;
    if (!events.length) { fill(el); return; }
    const timeline = eventsTimeline(events);
    fill(el, timeline.el);
    timeline.draw().catch((err) => showBanner(err.message));
  }
  return { el, update };
}

/** `panel` (events or artifacts) in a section titled `title`, hidden while the run has
 * none of them: a live run's appear once it has some. */
function panelSection(title, panel) {
  const box = section(title, panel.el);
  const update = (items) => { panel.update(items); box.hidden = items.length === 0; };
  return { box, update };
}

/** The tail of a log: the first read asks for the last LOG_TAIL bytes, later ones for what
 * was written since; a log growing faster than the page reads it jumps to its tail again. */
function logsPanel(source, runId, streams) {
  const state = {};
  const pre = h("pre", { class: "log-text", id: "log-text" });
  let current = streams[0];
  async function pull() {
    const name = current;
    const s = state[name] || (state[name] = { offset: null, text: "" });
    try {
      for (let i = 0; i < 16; i += 1) {  // at most 1 MiB per pull
        const tail = s.offset === null;
        const answer = await source.logs(runId, name, s.offset, tail ? LOG_TAIL : LOG_CHUNK);
        if (tail) {
          const before = answer.offset > 0 ? `… (${fmtBytes(answer.offset)} before)\n` : "";
          s.text = before + answer.text;
        } else {
          s.text += answer.text;
        }
        s.offset = answer.next_offset;
        if (s.text.length > 2 * LOG_TAIL) s.text = s.text.slice(-LOG_TAIL);  // keep the tail
        if (answer.size - answer.next_offset > 4 * LOG_TAIL) { s.offset = null; continue; }  // far behind
        if (!answer.text || answer.next_offset >= answer.size) break;
      }
    } catch (err) {
      s.text = `${err.message}`;
    }
    if (name !== current) return;  // the other tab was chosen meanwhile
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = s.text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }
  const tabs = h("div", { class: "tabs" }, streams.map((name) => h("button", { class: "tab", dataset: { stream: name },
    onclick: () => { current = name; markTab(); pull(); } }, name)));
  const markTab = () => { for (const t of tabs.children) t.classList.toggle("active", t.dataset.stream === current); };
  markTab();
  return { el: h("div", {}, tabs, pre), pull };
}

export function runView(source, view, runId, { onLive }) {
  fill(view, h("p", { class: "loading" }, "Loading run…"));
  let charts = [];
  let lazy = null;
  let logs = null;
  let chartsBox = null;
  let noMetrics = null;
  let newChart = null;

  /** Charts for metrics that appeared since the page was drawn (a live run's new names). */
  function addCharts(names) {
    const known = new Set(charts.map((c) => c.el.dataset.metric));
    for (const name of names) {
      if (known.has(name)) continue;
      const chart = newChart(name);
      charts.push(chart);
      if (noMetrics) { noMetrics.remove(); noMetrics = null; }
      chartsBox.append(chart.el);
      lazy.add(chart);
    }
  }

  let events = null;
  let artifacts = null;
  let head = null;

  /** Name, status, error and traceback, tags: redrawn when the status changes. */
  function renderHead(run, detail) {
    const statusLine = h("div", { class: "run-status" }, statusBadge(run.status),
      run.start ? ` started ${fmtTime(run.start)}` : "", run.duration_s !== null && run.duration_s !== undefined ? ` · ${fmtDuration(run.duration_s)}` : "");
    const error = detail.error || run.error;
    fill(head,
      h("h1", { class: "run-name", id: "run-name" }, run.name || run.run_id),
      h("div", { class: "run-id muted" }, `${run.experiment} · ${run.run_id}`),
      statusLine,
      error ? h("div", { class: "run-error", id: "run-error" }, h("strong", {}, "error: "), error) : null,
      detail.traceback ? h("details", { class: "traceback", open: true }, h("summary", {}, "traceback"), h("pre", { id: "run-traceback" }, detail.traceback)) : null,
      h("div", { class: "tags", id: "run-tags" }, Object.entries(run.tags || {}).map(([k, v]) => h("span", { class: "tag" }, `${k}: ${fmtValue(v)}`))),
      h("a", { href: `#/compare?run=${encodeURIComponent(run.run_id)}`, class: "muted" }, "compare with…"));
  }

  /** What a live run adds besides points: events and artifacts, drawn when they change. */
  function renderAdded(detail) {
    events.update(detail.events || []);
    artifacts.update(detail.artifacts || []);
  }

  async function load() {
    const detail = await source.run(runId);
    const run = detail.run;
    if ((detail.problems || []).length) showBanner(detail.problems.join("\n"), "error");
    const controls = chartControls(source, chartDefaults, (opts, what) => {
      Object.assign(chartDefaults, opts);
      for (const c of charts) { if (what === "x") c.reload(); else c.redraw(); }
    });
    const labels = { [run.run_id]: run.name || run.run_id };
    newChart = (name) => metricChart(source, { runIds: [run.run_id], name, labels, options: controls.options });
    charts = (detail.metrics || []).map(newChart);
    chartsBox = h("div", { class: "charts", id: "run-charts" }, charts.map((c) => c.el));
    noMetrics = charts.length ? null : h("p", { class: "muted", id: "no-metrics" }, "No metrics logged yet.");
    chartsBox.append(...(noMetrics ? [noMetrics] : []));
    head = h("div", { class: "run-head" });
    renderHead(run, detail);
    events = panelSection("Events", eventsPanel());
    artifacts = panelSection("Artifacts", artifactsPanel(source, run.run_id));
    logs = (detail.logs || []).length && source.live ? logsPanel(source, run.run_id, detail.logs) : null;
    fill(view,
      head,
      section("Metrics", controls.el, chartsBox),
      section("Params", h("div", { id: "run-params" }, paramsTree(detail.params || {}))),
      events.box,
      artifacts.box,
      logs ? section("Logs", logs.el) : null);
    renderAdded(detail);
    lazy = lazyCharts(charts);
    if (logs) logs.pull();
    view.dataset.loaded = "true";
    return run.status === "running";
  }

  load().then((running) => {
    if (!source.live) return;
    let wasRunning = running;
    onLive(async () => {
      if (!wasRunning) return false;
      for (const c of charts) await c.poll();
      if (logs) await logs.pull();
      const detail = await source.run(runId);
      addCharts(detail.metrics || []);
      renderAdded(detail);
      const badge = view.querySelector(".run-status .status");
      if (badge && detail.run.status !== badge.dataset.status) {
        renderHead(detail.run, detail);
        if (detail.run.status !== "running") {  // its last points and lines
          for (const c of charts) await c.poll();
          if (logs) await logs.pull();
        }
      }
      wasRunning = detail.run.status === "running";
      return wasRunning;
    });
  }).catch((err) => {
    fill(view, h("p", { class: "error", id: "run-missing" }, err.message));
    showBanner(err.message);
  });

  return () => { if (lazy) lazy.disconnect(); for (const c of charts) c.destroy(); };
}
