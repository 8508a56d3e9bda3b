// Where the page's data comes from: the server's /api, or the JSON a report embeds.
import { reportSource } from "./report_source.js";

/** An answer other than 2xx; `detail` is the server's message. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

/** The data source of this page: embedded data when the page is a report. */
export function makeSource() {
  const embedded = document.getElementById("ferrotrack-data");
  if (embedded) return reportSource(JSON.parse(embedded.textContent));
  return apiSource();
}

/** The query string of a runs request (RunsQuery's fields). */
export function runsParams(query) {
  const p = new URLSearchParams();
  if (query.experiment) p.set("experiment", query.experiment);
  if (query.status) p.set("status", query.status);
  for (const [k, v] of Object.entries(query.tags || {})) p.append("tag", `${k}:${v}`);
  if (query.q) p.set("q", query.q);
  for (const [k, [lo, hi]] of Object.entries(query.params || {})) {
    p.append("param", `${k}:${lo ?? ""}:${hi ?? ""}`);
  }
  for (const [k, [lo, hi]] of Object.entries(query.metrics || {})) {
    p.append("metric", `${k}:${lo ?? ""}:${hi ?? ""}`);
  }
  if (query.since) p.set("since", query.since);
  if (query.sort) p.set("sort", query.sort);
  p.set("desc", query.desc ? "true" : "false");
  p.set("offset", String(query.offset || 0));
  p.set("limit", String(query.limit || 100));
  return p;
}

function apiSource() {
  const token = new URLSearchParams(location.search).get("token");
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const withToken = (url) => (token ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : url);

  async function get(path, params) {
    const qs = params ? `?${params}` : "";
    const response = await fetch(`/api${path}${qs}`, { headers });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (body && body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      } catch (_) { /* not JSON: keep the status line */ }
      throw new ApiError(response.status, detail);
    }
    return response.json();
  }

  const enc = encodeURIComponent;
  const encPath = (path) => path.split("/").map(enc).join("/");

  return {
    kind: "server",
    live: true,
    experiments: () => get("/experiments"),
    runs: (query) => get("/runs", runsParams(query)),
    run: (id) => get(`/runs/${enc(id)}`),
    series(ids, name, opts = {}) {
      const p = new URLSearchParams();
      for (const id of ids) p.append("run", id);
      p.set("name", name);
      p.set("x", opts.x || "step");
      if (opts.xMin !== undefined && opts.xMin !== null) p.set("x_min", String(opts.xMin));
      if (opts.xMax !== undefined && opts.xMax !== null) p.set("x_max", String(opts.xMax));
      if (opts.points) p.set("points", String(opts.points));
      // one cursor per run, in the runs' order ("c": nothing read yet, the whole series)
      if (opts.after) for (const id of ids) p.append("after", opts.after[id] || "c");
      return get("/series", p);
    },
    compare(ids) {
      const p = new URLSearchParams();
      for (const id of ids) p.append("run", id);
      return get("/compare", p);
    },
    parallel: (experiment, metric, agg) =>
      get(`/experiments/${enc(experiment)}/parallel`, new URLSearchParams({ metric, agg })),
    artifactUrl: (id, path) => withToken(`/api/runs/${enc(id)}/artifacts/${encPath(path)}`),
    preview: (id, path) => get(`/runs/${enc(id)}/artifacts/${encPath(path)}`, new URLSearchParams({ preview: "1" })),
    logs(id, stream, offset, limit) {
      // no offset: the server answers the log's tail
      const p = new URLSearchParams({ limit: String(limit) });
      if (offset !== undefined && offset !== null) p.set("offset", String(offset));
      return get(`/runs/${enc(id)}/logs/${enc(stream)}`, p);
    },
  };
}
