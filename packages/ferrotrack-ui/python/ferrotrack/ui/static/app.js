// The page: a hash router over three views, the data source, and one live ticker.
import { h, hideBanner, showBanner } from "./dom.js";
import { compareView } from "./compare.js";
import { runView } from "./run.js";
import { runsView } from "./runs.js";
import { makeSource } from "./source.js";

const LIVE_MS = 1000;
const IDLE_MS = 5000;  // nothing running: ask less often whether something started

/** The view a location hash names: runs, a run, or compare with its run ids. */
export function parseRoute(hash) {
  const text = (hash || "").replace(/^#/, "");
  const [path, query = ""] = text.split("?");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "run" && parts[1]) return { view: "run", runId: decodeURIComponent(parts[1]) };
  if (parts[0] === "compare") return { view: "compare", runIds: new URLSearchParams(query).getAll("run") };
  return { view: "runs" };
}

function startApp() {
  const source = makeSource();
  const liveBadge = document.getElementById("live");
  let cleanup = null;
  let tick = null;
  let timer = null;
  let busy = false;

  if (source.kind === "report") {
    const mode = document.getElementById("mode");
    mode.textContent = `report${source.title ? `: ${source.title}` : ""}${source.generated ? ` · ${source.generated}` : ""}`;
    document.title = `ferrotrack report${source.title ? ` — ${source.title}` : ""}`;
  }

  /** A view registers one function, called every second while it says something is live
 * (it returns whether something is), every five seconds otherwise. */
  function onLive(fn) { tick = fn; schedule(); }

  function schedule(ms = LIVE_MS) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(runTick, ms);
  }

  async function runTick() {
    timer = null;
    if (!tick || busy) return;
    const mine = tick;
    busy = true;
    let live = false;
    try {
      live = await mine();
    } catch (err) {
      showBanner(`live update: ${err.message}`, "warning");
      live = true;
    } finally {
      busy = false;
    }
    if (mine !== tick) return;
    liveBadge.hidden = !live;
    document.body.dataset.live = live ? "true" : "false";
    schedule(live ? LIVE_MS : IDLE_MS);  // keep asking: a run may start logging later
  }

  function route() {
    if (cleanup) cleanup();
    cleanup = null;
    tick = null;
    if (timer) { clearTimeout(timer); timer = null; }
    liveBadge.hidden = true;
    hideBanner();
    const fresh = h("main", { id: "view" });
    const old = document.getElementById("view");
    old.replaceWith(fresh);
    const r = parseRoute(location.hash);
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.id === `nav-${r.view === "run" ? "runs" : r.view}`);
    if (r.view === "run") cleanup = runView(source, fresh, r.runId, { onLive });
    else if (r.view === "compare") cleanup = compareView(source, fresh, r.runIds, { onLive });
    else runsView(source, fresh, { onLive });
  }

  window.addEventListener("hashchange", route);
  window.addEventListener("error", (e) => showBanner(`page error: ${e.message}`));
  window.addEventListener("unhandledrejection", (e) => showBanner(`page error: ${e.reason && e.reason.message ? e.reason.message : e.reason}`));
  route();
}

startApp();
