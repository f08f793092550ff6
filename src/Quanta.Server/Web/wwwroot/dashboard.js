"use strict";
// The dashboard: polls /stats once a second and draws the last two minutes of each number.
(() => {
  const $ = id => document.getElementById(id);
  const keep = 120;                 // points per chart (seconds)
  const history = {};               // chart id -> array of [values...] per poll
  let previous = null;              // the last snapshot, for rates of counters

  const css = name => getComputedStyle(document.body).getPropertyValue(name).trim();
  const fmtMs = v => v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) + " ms" : v < 1000 ? v.toFixed(0) + " ms" : (v / 1000).toFixed(2) + " s";
  const fmtBytes = b => (b / 1073741824).toFixed(2) + " GiB";
  const pct = (a, b) => b > 0 ? (100 * a / b).toFixed(1) + "%" : "–";

  function push(id, values) {
    const h = history[id] || (history[id] = []);
    h.push(values);
    if (h.length > keep) h.shift();
  }

  // A line chart of the history of `id` (one line per value) on its canvas, scaled to the device's pixels.
  function draw(id, opts = {}) {
    const canvas = $("c-" + id), data = history[id] || [];
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    let max = opts.max || 0;
    for (const row of data) for (const v of row) if (v !== null && v > max) max = v;
    if (max <= 0) max = 1;
    g.strokeStyle = css("--grid");
    g.lineWidth = 1;
    g.beginPath();
    for (let i = 1; i <= 3; i++) { const y = Math.round(h * i / 4) + 0.5; g.moveTo(0, y); g.lineTo(w, y); }
    g.stroke();
    g.fillStyle = css("--muted");
    g.font = "11px system-ui, sans-serif";
    g.fillText(opts.label ? opts.label(max) : String(+max.toFixed(2)), 4, 12);
    const colors = [css("--series-1"), css("--series-2"), css("--series-3")];
    const lines = data.length ? data[data.length - 1].length : 0;
    // The x axis spans 30 s at first and grows to the whole history, so a fresh page shows a readable chart.
    const span = Math.min(keep, Math.max(30, data.length));
    const step = w / (span - 1), x0 = w - (data.length - 1) * step;
    for (let s = 0; s < lines; s++) {
      g.strokeStyle = colors[s % colors.length];
      g.lineWidth = 1.75;
      g.beginPath();
      let pen = false;
      data.forEach((row, i) => {
        const v = row[s];
        if (v === null || v === undefined) { pen = false; return; }
        const x = x0 + i * step, y = h - 2 - (h - 16) * v / max;
        if (pen) g.lineTo(x, y); else g.moveTo(x, y);
        pen = true;
      });
      g.stroke();
    }
  }

  function update(s) {
    const dt = previous ? Math.max(0.001, (s.timestamp_ms - previous.timestamp_ms) / 1000) : 1;
    const delta = name => previous ? Math.max(0, s[name] - previous[name]) : 0;
    $("device").textContent = s.device;
    $("requests-total").textContent = s.requests_total;
    $("v-inflight").textContent = s.requests_in_flight;
    $("v-waiting").textContent = s.requests_waiting;
    $("v-batch").textContent = s.batch_size;
    $("v-kv").textContent = s.kv_blocks_used;
    $("v-kv-total").textContent = s.kv_blocks_total;
    $("v-kv-pct").textContent = pct(s.kv_blocks_used, s.kv_blocks_total);
    $("v-tps").textContent = s.generated_tokens_per_second.toFixed(1);
    $("v-tokens").textContent = s.generated_tokens_total;
    for (const [name, p] of [["ttft", s.ttft_ms], ["itl", s.itl_ms]]) {
      for (const q of ["p50", "p90", "p99"]) $(`v-${name}-${q}`).textContent = fmtMs(p[q]);
      push(name, [p.p50, p.p90, p.p99]);
    }
    const queries = delta("prefix_cache_queries_total"), hits = delta("prefix_cache_hits_total");
    $("v-prefix").textContent = queries > 0 ? pct(hits, queries) : "–";
    $("v-prefix-all").textContent = pct(s.prefix_cache_hits_total, s.prefix_cache_queries_total);
    $("v-preempt").textContent = s.preemptions_total;
    const onGpu = s.gpu_memory_total_bytes !== null && s.gpu_memory_total_bytes !== undefined;
    $("v-gpu").textContent = onGpu ? fmtBytes(s.gpu_memory_used_bytes) : "n/a";
    $("v-gpu-total").textContent = onGpu ? "of " + fmtBytes(s.gpu_memory_total_bytes) : "(not on a GPU)";

    push("requests", [s.requests_in_flight, s.requests_waiting]);
    push("batch", [s.batch_size]);
    push("kv", [s.kv_blocks_used]);
    push("tps", [s.generated_tokens_per_second]);
    push("prefix", [queries > 0 ? 100 * hits / queries : null]);
    push("preempt", [delta("preemptions_total") / dt]);
    push("gpu", [onGpu ? s.gpu_memory_used_bytes / 1073741824 : null]);
    drawAll(s);
    previous = s;
  }

  function drawAll(s) {
    draw("requests");
    draw("batch");
    draw("kv", { max: s ? s.kv_blocks_total : 0 });
    draw("tps");
    draw("ttft", { label: fmtMs });
    draw("itl", { label: fmtMs });
    draw("prefix", { max: 100, label: v => v.toFixed(0) + "%" });
    draw("preempt", { label: v => v.toFixed(1) + "/s" });
    draw("gpu", { max: s && s.gpu_memory_total_bytes ? s.gpu_memory_total_bytes / 1073741824 : 0, label: v => v.toFixed(1) + " GiB" });
  }

  // One request at a time, one a second; none while the tab is hidden.
  async function poll() {
    const started = performance.now();
    if (!document.hidden) {
      try {
        const res = await Quanta.api("/stats");
        if (res.ok) {
          update(await res.json());
          $("live").textContent = "live, updated " + new Date().toLocaleTimeString();
        } else {
          $("live").textContent = "error: " + await Quanta.errorText(res);
        }
      } catch (e) {
        $("live").textContent = "server unreachable";
      }
    }
    setTimeout(poll, Math.max(0, 1000 - (performance.now() - started)));
  }

  addEventListener("resize", () => drawAll(previous));
  poll();
})();
