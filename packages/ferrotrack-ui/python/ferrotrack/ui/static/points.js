// What a chart keeps of a series: a bounded number of points (a live run appends for hours,
// the page's memory must stay flat), and wall-clock x values as local times for plotly.

/**
 * At most `points` points of (xs, ys), xs ascending: the x range cut into `points / 4`
 * equal buckets, each keeping its first, last, lowest and highest point (the server's rule,
 * so spikes survive), in x order. Non-finite and null y values are never a bucket's
 * lowest or highest. Returns the input arrays themselves when they already fit.
 */
export function reducePoints(xs, ys, points) {
  const n = xs.length;
  if (n <= points) return { x: xs, y: ys };
  const buckets = Math.max(1, Math.floor(points / 4));
  const lo = xs[0];
  const width = (xs[n - 1] - lo) / buckets;
  const bucketOf = (v) => (width > 0 ? Math.min(buckets - 1, Math.floor((v - lo) / width)) : 0);
  const keepX = [];
  const keepY = [];
  let i = 0;
  while (i < n) {
    const b = bucketOf(xs[i]);
    let j = i;
    let low = -1;
    let high = -1;
    while (j < n && bucketOf(xs[j]) === b) {
      const y = ys[j];
      if (typeof y === "number" && Number.isFinite(y)) {
        if (low < 0 || y < ys[low]) low = j;
        if (high < 0 || y > ys[high]) high = j;
      }
      j += 1;
    }
    const keep = [...new Set([i, low, high, j - 1])].filter((k) => k >= 0).sort((a, c) => a - c);
    for (const k of keep) { keepX.push(xs[k]); keepY.push(ys[k]); }
    i = j;
  }
  return { x: keepX, y: keepY };
}

/** Milliseconds since the epoch (the server's wall x) as plotly's date text in the
 * browser's time zone, as the runs table shows times: plotly draws dates as written. */
export function wallToLocal(ms) {
  const d = new Date(ms);
  return new Date(ms - d.getTimezoneOffset() * 60000).toISOString().slice(0, -1);
}

/** A date plotly reports for a zoom ("2024-05-01 12:00:00.5", local) as milliseconds
 * since the epoch; a number is already that. */
export function localToWall(value) {
  if (typeof value === "number") return value;
  const text = String(value).trim().replace(" ", "T");
  return new Date(text.length === 10 ? `${text}T00:00` : text).getTime();
}
