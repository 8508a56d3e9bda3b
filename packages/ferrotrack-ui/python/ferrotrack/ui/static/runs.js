// The runs table: one page of rows in the DOM (10,000 runs stay fast), sort by any column,
// filter by experiment, status, tag, text and param or metric ranges, choose columns,
// select runs to compare. While runs are live, the page is read again every second.
import { debounce, fill, fmtDuration, fmtTime, fmtValue, h, safeClass, showBanner, statusBadge } from "./dom.js";

const STATUSES = ["running", "finished", "failed", "killed", "crashed"];
const COLUMN_STATS = ["last", "min", "max"];
const PAGE_SIZES = [50, 100, 200, 500];
const STABLE_SORTS = new Set(["start", "name", "experiment", "run_id"]);  // a change keeps the order
const FIXED = [
  { key: "name", label: "Name" }, { key: "experiment", label: "Experiment" },
  { key: "status", label: "Status" }, { key: "start", label: "Start" },
  { key: "duration", label: "Duration" },
];

/** What the table shows; kept while the person visits other views. */
const runsState = {
  query: { experiment: "", status: "", q: "", tags: {}, params: {}, metrics: {},
    sort: "start", desc: true, offset: 0, limit: 100 },
  columns: null,
  selected: new Set(),
};

/** The sort key of a param or metric column (what RunsQuery.sort takes). */
export function paramSortKey(key) { return `params.${key}`; }
export function metricSortKey(name, stat = "last") { return `metrics.${name}.${stat}`; }
export function tagSortKey(key) { return `tags.${key}`; }

/** How long a page answered from part of the store waits before asking again. */
const PARTIAL_RETRY_MS = 250;

/** Parses "key:value" into a tag filter; null when there is no colon. */
export function parseTag(text) {
  const i = text.indexOf(":");
  if (i <= 0) return null;
  return [text.slice(0, i).trim(), text.slice(i + 1).trim()];
}

export function runsView(source, view, { onLive }) {
  const state = runsState;
  const q = state.query;
  let lastSignature = "";
  let columnsKnown = { params: [], metrics: [], tags: [] };

  const experimentSelect = h("select", { id: "filter-experiment", onchange: (e) => { q.experiment = e.target.value; q.offset = 0; refresh(); } },
    h("option", { value: "" }, "all experiments"));
  const statusSelect = h("select", { id: "filter-status", onchange: (e) => { q.status = e.target.value; q.offset = 0; refresh(); } },
    h("option", { value: "" }, "any status"), STATUSES.map((s) => h("option", { value: s, selected: s === q.status }, s)));
  const search = h("input", { id: "filter-search", type: "search", placeholder: "search name, id, tags",
    value: q.q, oninput: debounce((e) => { q.q = e.target.value.trim(); q.offset = 0; refresh(); }, 250) });
  const tagInput = h("input", { id: "filter-tag", type: "text", placeholder: "tag key:value",
    onkeydown: (e) => {
      if (e.key !== "Enter") return;
      const tag = parseTag(e.target.value);
      if (!tag) { showBanner("a tag filter is key:value", "warning"); return; }
      q.tags[tag[0]] = tag[1];
      e.target.value = "";
      q.offset = 0;
      refresh();
    } });
  const rangeColumn = h("select", { id: "range-column" });
  const rangeLo = h("input", { id: "range-lo", type: "number", step: "any", placeholder: "min" });
  const rangeHi = h("input", { id: "range-hi", type: "number", step: "any", placeholder: "max" });
  const rangeAdd = h("button", { id: "range-add", onclick: () => {
    const [kind, key] = splitColumn(rangeColumn.value);
    if (!key) return;
    const range = [rangeLo.value === "" ? null : Number(rangeLo.value), rangeHi.value === "" ? null : Number(rangeHi.value)];
    (kind === "param" ? q.params : q.metrics)[key] = range;
    rangeLo.value = ""; rangeHi.value = "";
    q.offset = 0;
    refresh();
  } }, "add range");
  const chips = h("div", { class: "filter-chips", id: "filter-chips" });
  const columnsBox = h("div", { class: "columns-box" });
  const columnsChooser = h("details", { class: "columns-chooser", id: "columns-chooser" }, h("summary", {}, "columns"), columnsBox);
  const compareButton = h("button", { id: "compare-selected", disabled: true,
    onclick: () => { location.hash = `#/compare?${[...state.selected].map((id) => `run=${encodeURIComponent(id)}`).join("&")}`; } }, "compare");
  const table = h("table", { class: "runs-table", id: "runs-table" });
  const pager = h("div", { class: "pager", id: "pager" });
  const count = h("span", { class: "runs-count", id: "runs-count" });

  fill(view,
    h("div", { class: "toolbar" }, experimentSelect, statusSelect, search, tagInput,
      h("span", { class: "range-filter" }, rangeColumn, rangeLo, rangeHi, rangeAdd),
      columnsChooser, compareButton),
    chips, h("div", { class: "table-wrap" }, table), h("div", { class: "table-foot" }, count, pager));

  function splitColumn(value) {
    const i = value.indexOf(":");
    return i < 0 ? [null, null] : [value.slice(0, i), value.slice(i + 1)];
  }

  async function loadExperiments() {
    try {
      const answer = await source.experiments();
      const current = q.experiment;
      fill(experimentSelect, h("option", { value: "" }, "all experiments"),
        answer.experiments.map((e) => h("option", { value: e.name, selected: e.name === current },
          `${e.name} (${e.runs}${e.running ? `, ${e.running} running` : ""}${e.failed ? `, ${e.failed} failed` : ""})`)));
      return answer.experiments.some((e) => e.running > 0);
    } catch (err) {
      showBanner(`experiments: ${err.message}`);
      return false;
    }
  }

  function renderChips() {
    const chip = (label, remove) => h("span", { class: "chip" }, label,
      h("button", { class: "chip-remove", title: "remove", onclick: () => { remove(); q.offset = 0; refresh(); } }, "×"));
    const range = ([lo, hi]) => `${lo ?? "…"} – ${hi ?? "…"}`;
    fill(chips,
      Object.entries(q.tags).map(([k, v]) => chip(`tag ${k} = ${v}`, () => delete q.tags[k])),
      Object.entries(q.params).map(([k, r]) => chip(`${k} in ${range(r)}`, () => delete q.params[k])),
      Object.entries(q.metrics).map(([k, r]) => chip(`${k} in ${range(r)}`, () => delete q.metrics[k])));
  }

  /** The columns shown: param keys, tag keys, and metric columns `{ name, stat }` (a
   * metric's last value, or its min or max). */
  function chosenColumns(cols) {
    if (!state.columns) {
      state.columns = { params: cols.params.slice(0, 4), tags: [],
        metrics: cols.metrics.slice(0, 4).map((name) => ({ name, stat: "last" })) };
    }
    return state.columns;
  }

  function metricGroup(chosen, names) {
    const has = (name, stat) => chosen.metrics.some((m) => m.name === name && m.stat === stat);
    const toggle = (name, stat, on) => {
      chosen.metrics = chosen.metrics.filter((m) => m.name !== name || m.stat !== stat);
      if (on) chosen.metrics.push({ name, stat });
      lastSignature = "";
      refresh();
    };
    return h("fieldset", {}, h("legend", {}, "metrics (last, min, max)"),
      names.map((name) => h("div", { class: "column-option" }, COLUMN_STATS.map((stat) =>
        h("input", { type: "checkbox", title: `${name}: ${stat}`, checked: has(name, stat),
          dataset: { kind: "metrics", name, stat }, onchange: (e) => toggle(name, stat, e.target.checked) })),
      ` ${name}`)));
  }

  function renderColumnChooser(cols) {
    const chosen = chosenColumns(cols);
    const group = (kind, names) => h("fieldset", {}, h("legend", {}, kind),
      names.map((name) => h("label", { class: "column-option" },
        h("input", { type: "checkbox", checked: chosen[kind].includes(name), dataset: { kind, name },
          onchange: (e) => {
            const list = chosen[kind];
            if (e.target.checked) { if (!list.includes(name)) list.push(name); } else chosen[kind] = list.filter((n) => n !== name);
            lastSignature = "";
            refresh();
          } }), name)));
    fill(columnsBox, group("params", cols.params), metricGroup(chosen, cols.metrics), group("tags", cols.tags));
    const current = rangeColumn.value;
    fill(rangeColumn, h("option", { value: "" }, "range on…"),
      cols.params.map((p) => h("option", { value: `param:${p}`, selected: current === `param:${p}` }, `param ${p}`)),
      cols.metrics.map((m) => h("option", { value: `metric:${m}`, selected: current === `metric:${m}` }, `metric ${m} (last)`)));
  }

  function header(cols) {
    const th = (label, key, cls) => {
      if (key === null) return h("th", { class: cls }, label);
      const active = q.sort === key;
      return h("th", { class: `${cls || ""} sortable${active ? (q.desc ? " sort-desc" : " sort-asc") : ""}`, dataset: { sort: key },
        onclick: () => { if (q.sort === key) q.desc = !q.desc; else { q.sort = key; q.desc = key === "start"; } q.offset = 0; refresh(); } },
      label, active ? (q.desc ? " ▼" : " ▲") : "");
    };
    const all = h("input", { type: "checkbox", id: "select-page", title: "select this page" });
    return h("thead", {}, h("tr", {}, h("th", { class: "col-select" }, all),
      FIXED.map((f) => th(f.label, f.key, `col-${f.key}`)),
      cols.tags.map((t) => th(`#${t}`, tagSortKey(t), "col-tag")),
      cols.params.map((p) => th(p, paramSortKey(p), "col-param")),
      cols.metrics.map((m) => th(m.stat === "last" ? m.name : `${m.name} (${m.stat})`, metricSortKey(m.name, m.stat), "col-metric"))));
  }

  function row(run, cols) {
    const checked = state.selected.has(run.run_id);
    const box = h("input", { type: "checkbox", class: "row-select", checked, dataset: { runId: run.run_id },
      onchange: (e) => { if (e.target.checked) state.selected.add(run.run_id); else state.selected.delete(run.run_id); updateCompare(); } });
    const stats = (m) => (run.metrics || {})[m];
    return h("tr", { class: `run-row row-${safeClass(run.status)}`, dataset: { runId: run.run_id, status: run.status } },
      h("td", { class: "col-select" }, box),
      h("td", { class: "col-name" }, h("a", { href: `#/run/${encodeURIComponent(run.run_id)}`, class: "run-link" }, run.name || run.run_id),
        run.error ? h("span", { class: "row-error", title: run.error }, " ⚠") : null),
      h("td", { class: "col-experiment" }, run.experiment),
      h("td", { class: "col-status" }, statusBadge(run.status)),
      h("td", { class: "col-start" }, fmtTime(run.start)),
      h("td", { class: "col-duration num" }, fmtDuration(run.duration_s)),
      cols.tags.map((t) => h("td", { class: "col-tag" }, fmtValue((run.tags || {})[t]))),
      cols.params.map((p) => h("td", { class: "col-param num" }, fmtValue((run.params || {})[p]))),
      cols.metrics.map((m) => {
        const s = stats(m.name);
        return h("td", { class: "col-metric num", title: s ? `min ${fmtValue(s.min)} · max ${fmtValue(s.max)} · ${s.count} points` : "" },
          s ? fmtValue(s[m.stat]) : "");
      }));
  }

  function updateCompare() {
    compareButton.disabled = state.selected.size < 1;
    compareButton.textContent = `compare (${state.selected.size})`;
  }

  function renderPager(total, partial) {
    const first = total === 0 ? 0 : q.offset + 1;
    const last = Math.min(q.offset + q.limit, total);
    count.textContent = partial
      ? `${first}–${last} of ${total} runs so far (reading the store: ${partial.indexed} of ${partial.of} runs, newest first)`
      : `${first}–${last} of ${total} runs`;
    fill(pager,
      h("button", { id: "page-prev", disabled: q.offset === 0, onclick: () => { q.offset = Math.max(0, q.offset - q.limit); refresh(); } }, "‹ prev"),
      h("button", { id: "page-next", disabled: last >= total, onclick: () => { q.offset += q.limit; refresh(); } }, "next ›"),
      h("select", { id: "page-size", onchange: (e) => { q.limit = Number(e.target.value); q.offset = 0; refresh(); } },
        PAGE_SIZES.map((n) => h("option", { value: String(n), selected: n === q.limit }, `${n} / page`))));
  }

  let generation = 0;
  let cursor = null;  // the runs index's cursor of the page drawn: the live tick asks since it
  let shown = [];
  let body = null;
  async function refresh() {
    renderChips();
    const mine = ++generation;
    let answer;
    try {
      answer = await source.runs(q);
    } catch (err) {
      showBanner(`runs: ${err.message}`);
      return false;
    }
    if (mine !== generation) return false;  // a newer request was made meanwhile
    cursor = answer.cursor || null;
    shown = answer.runs;
    if (answer.partial) {
      // the server is still reading the store: the newest runs are shown, the rest follow
      setTimeout(() => { if (mine === generation) refresh(); }, PARTIAL_RETRY_MS);
    }
    const signature = JSON.stringify([answer, state.columns]);
    if (signature === lastSignature) return answer.runs.some((r) => r.status === "running");
    lastSignature = signature;
    columnsKnown = answer.columns || columnsKnown;
    renderColumnChooser(columnsKnown);
    const cols = chosenColumns(columnsKnown);
    body = h("tbody", {}, answer.runs.map((run) => row(run, cols)));
    if (answer.runs.length === 0) {
      body.append(h("tr", { class: "empty-row" }, h("td", { colspan: String(6 + cols.tags.length + cols.params.length + cols.metrics.length) },
        answer.total === 0 && !q.q && !q.status && !q.experiment ? "No runs in this store yet." : "No run matches these filters.")));
    }
    const head = header(cols);
    fill(table, head, body);
    const pageBox = head.querySelector("#select-page");
    pageBox.checked = answer.runs.length > 0 && answer.runs.every((r) => state.selected.has(r.run_id));
    pageBox.addEventListener("change", (e) => {
      for (const r of answer.runs) { if (e.target.checked) state.selected.add(r.run_id); else state.selected.delete(r.run_id); }
      for (const b of body.querySelectorAll(".row-select")) b.checked = e.target.checked;
      updateCompare();
    });
    renderPager(answer.total, answer.partial);
    updateCompare();
    view.dataset.loaded = "true";
    view.dataset.total = String(answer.total);
    view.dataset.partial = answer.partial ? "true" : "false";
    return answer.runs.some((r) => r.status === "running");
  }

  /** Whether a change to `rows` can be drawn in place: each is on the page, has no column
   * the page does not know, and no filter or sort but the experiment could move it. */
  function patchable(rows) {
    const filtered = q.status || q.q || Object.keys(q.tags).length || Object.keys(q.params).length
      || Object.keys(q.metrics).length || !STABLE_SORTS.has(q.sort);
    if (filtered || !body) return false;
    const ids = new Set(shown.map((r) => r.run_id));
    const known = (kind, row) => Object.keys(row[kind] || {}).every((k) => columnsKnown[kind].includes(k));
    return rows.every((r) => ids.has(r.run_id) && known("params", r) && known("metrics", r) && known("tags", r));
  }

  /** The live tick: only the runs changed since the page was drawn travel; those on the page
   * are redrawn in place, anything else (a new run, a filter a change may affect) reads the
   * page again. */
  async function liveTick() {
    const anyRunning = await loadExperiments();
    if (!cursor) return (await refresh()) || anyRunning;
    const mine = generation;
    const answer = await source.runs({ since: cursor, experiment: q.experiment, sort: "start", desc: true,
      offset: 0, limit: 500 });
    if (mine !== generation) return true;  // the person changed the query meanwhile
    const changed = answer.runs;
    if ((answer.removed || []).length || changed.length >= 500 || !patchable(changed)) {
      return (await refresh()) || anyRunning;
    }
    cursor = answer.cursor || cursor;
    if (changed.length) {
      const cols = chosenColumns(columnsKnown);
      const byId = new Map(changed.map((r) => [r.run_id, r]));
      shown = shown.map((r) => byId.get(r.run_id) || r);
      for (const tr of [...body.children]) {
        const fresh = byId.get(tr.dataset.runId);
        if (fresh) tr.replaceWith(row(fresh, cols));
      }
      lastSignature = "";
    }
    return anyRunning || shown.some((r) => r.status === "running");
  }

  loadExperiments();
  refresh();
  if (source.live) onLive(liveTick);
}
