// The data source of a report: everything was embedded when the report was written, so
// filtering, sorting and paging happen here, over the embedded rows, as the server's
// runs_page does them (test_report_query checks the two agree).

/** A report's answer for a run, metric or experiment it does not hold. */
export class ReportMissing extends Error {}

const METRIC_STATS = ["last", "min", "max", "count", "last_step"];

/** The value a runs query sorts by: a Row field, `params.<key>`, `tags.<key>` or
 * `metrics.<name>[.<stat>]` (the last value when no stat is named). */
export function rowValue(row, key) {
  if (key.startsWith("params.")) return row.params ? row.params[key.slice(7)] : undefined;
  if (key.startsWith("tags.")) return row.tags ? row.tags[key.slice(5)] : undefined;
  if (key.startsWith("metrics.")) {
    let name = key.slice(8);
    let stat = "last";
    const dot = name.lastIndexOf(".");
    if (dot > 0 && METRIC_STATS.includes(name.slice(dot + 1))) {
      stat = name.slice(dot + 1);
      name = name.slice(0, dot);
    }
    const stats = row.metrics ? row.metrics[name] : undefined;
    return stats ? stats[stat] : undefined;
  }
  if (key === "duration") return row.duration_s;
  return row[key];
}

/** A non-number as the server compares it (Python's str of a bool is "True"). */
function asText(value) {
  if (typeof value === "boolean") return value ? "True" : "False";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Orders values of mixed types: missing last, numbers before strings, then as text. */
export function compareValues(a, b) {
  const missingA = a === undefined || a === null;
  const missingB = b === undefined || b === null;
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  const ta = asText(a);
  const tb = asText(b);
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

function inRange(value, [lo, hi]) {
  if (typeof value !== "number") return false;
  if (lo !== null && lo !== undefined && lo !== "" && value < Number(lo)) return false;
  if (hi !== null && hi !== undefined && hi !== "" && value > Number(hi)) return false;
  return true;
}

/** Whether `row` passes the query's filters (experiment, status, tags, text, ranges). */
export function rowMatches(row, query) {
  if (query.experiment && row.experiment !== query.experiment) return false;
  if (query.status && row.status !== query.status) return false;
  const tags = row.tags || {};
  for (const [k, v] of Object.entries(query.tags || {})) {
    if (!Object.hasOwn(tags, k) || tags[k] !== String(v)) return false;
  }
  for (const [k, range] of Object.entries(query.params || {})) {
    if (!inRange(row.params ? row.params[k] : undefined, range)) return false;
  }
  for (const [k, range] of Object.entries(query.metrics || {})) {
    const stats = row.metrics ? row.metrics[k] : undefined;
    if (!inRange(stats ? stats.last : undefined, range)) return false;
  }
  if (query.q) {
    // the server's text: name, id, experiment and each tag as key:value, lower case
    const text = [row.name, row.run_id, row.experiment,
      ...Object.entries(tags).map(([k, v]) => `${k}:${v}`)].join(" ").toLowerCase();
    if (!text.includes(query.q.toLowerCase())) return false;
  }
  return true;
}

/** Parameter keys whose values are not all equal. */
export function differingKeys(params) {
  return Object.keys(params).filter((key) => {
    const seen = new Set(params[key].map((v) => JSON.stringify(v === undefined ? null : v)));
    return seen.size > 1;
  }).sort();
}

/** The times of a series' points (BigInt ns since the epoch) from the report's encoding:
 * the run's start as text, then each point's difference from the one before. */
export function pointTimes(times) {
  let t = BigInt(times.origin);
  return times.d.map((d) => { t += BigInt(d); return t; });
}

/** A point's time as the server's x: `wall` ms since the epoch, `relative` seconds since
 * the run started. Number(BigInt) rounds as numpy's int64 -> float64 does: the same values. */
export function timeAsX(t, origin, kind) {
  return kind === "wall" ? Number(t) / 1e6 : Number(t - origin) / 1e9;
}

/** An embedded (step-ordered) series drawn against time: x from its points' times and
 * the points in time order (a stable sort, as the server's). */
function byTime(entry, kind) {
  if (!entry.times) {
    return { ...entry, x: [], y: [], problem: "this report holds no times for this series" };
  }
  const ts = pointTimes(entry.times);
  const origin = BigInt(entry.times.origin);
  const order = ts.map((_, i) => i).sort((i, j) => (ts[i] < ts[j] ? -1 : ts[i] > ts[j] ? 1 : 0));
  return { ...entry, x: order.map((i) => timeAsX(ts[i], origin, kind)),
    y: order.map((i) => entry.y[i]) };
}

export function reportSource(data) {
  const rows = data.runs || [];
  const byId = new Map(rows.map((row) => [row.run_id, row]));
  const need = (id) => {
    const row = byId.get(id);
    if (!row) throw new ReportMissing(`run ${id} is not in this report`);
    return row;
  };
  return {
    kind: "report",
    live: false,
    title: data.title,
    generated: data.generated,
    experiments: async () => data.experiments,
    async runs(query) {
      const key = query.sort || "start";
      const sign = query.desc ? -1 : 1;
      const matched = rows.filter((row) => rowMatches(row, query));
      matched.sort((a, b) => {
        const va = rowValue(a, key);
        const vb = rowValue(b, key);
        const missing = (va === undefined || va === null) - (vb === undefined || vb === null);
        return missing !== 0 ? missing : sign * compareValues(va, vb);
      });
      const offset = query.offset || 0;
      const limit = query.limit || 100;
      return { total: matched.length, offset, runs: matched.slice(offset, offset + limit),
        columns: data.columns };
    },
    async run(id) {
      need(id);
      const detail = data.details && data.details[id];
      if (!detail) throw new ReportMissing(`run ${id}: its details are not in this report`);
      return detail;
    },
    async series(ids, name, opts = {}) {
      const x = opts.x || "step";
      const series = [];
      for (const id of ids) {
        const entry = data.series && data.series[id] && data.series[id][name];
        if (entry) series.push(x === "step" ? entry : byTime(entry, x));
      }
      return { name, x, series };
    },
    async compare(ids) {
      const runs = ids.map(need);
      const keys = new Set();
      for (const row of runs) for (const k of Object.keys(row.params || {})) keys.add(k);
      const params = {};
      for (const k of [...keys].sort()) params[k] = runs.map((row) => (row.params || {})[k] ?? null);
      return { runs, params, differing: differingKeys(params) };
    },
    async parallel(experiment, metric, agg) {
      const mine = rows.filter((row) => row.experiment === experiment);
      const keys = new Set();
      for (const row of mine) for (const k of Object.keys(row.params || {})) keys.add(k);
      const out = mine.filter((row) => row.metrics && row.metrics[metric]).map((row) => ({
        run_id: row.run_id, params: row.params || {}, value: row.metrics[metric][agg],
      }));
      return { params: [...keys].sort(), rows: out };
    },
    artifactUrl: () => null,
    preview: async () => { throw new ReportMissing("artifacts are not in this report"); },
    logs: async () => { throw new ReportMissing("logs are not in this report"); },
  };
}
