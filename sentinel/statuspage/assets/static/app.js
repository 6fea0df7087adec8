// The rollout status page: polls api/status every second and draws it.
// Every value from the server goes into the page as text (textContent,
// append of strings, SVG built with createElementNS); nothing is ever parsed
// as markup. The control token lives only in this script's memory and the
// password field, and travels only in the Authorization header.
"use strict";
(() => {
  const SVGNS = "http://www.w3.org/2000/svg";
  const POLL_MS = 1000;
  const WINDOW_MS = 5 * 60 * 1000; // the charts show the last five minutes
  const MIN_SPAN_MS = 30 * 1000;
  const COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#6b7280"];

  let token = ""; // in memory only: never a cookie, never storage
  let timer = 0;
  let busy = false;
  let polls = 0;

  const $ = (id) => document.getElementById(id);

  // el makes an HTML element; children are nodes or strings, and strings
  // become text nodes.
  function el(tag, cls, ...children) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    e.append(...children.map((c) => (c instanceof Node ? c : String(c ?? ""))));
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function pct(bp) {
    return `${Number((bp / 100).toFixed(2))}%`;
  }
  function percent(x) {
    return `${Number((100 * x).toFixed(2))}%`;
  }
  function ms(s) {
    return s ? `${Number((1000 * s).toFixed(1))} ms` : "-";
  }
  function clock(t) {
    const d = new Date(t);
    return isNaN(d) ? "" : d.toISOString().slice(11, 19);
  }
  function num(x) {
    if (typeof x !== "number") return "";
    return Math.abs(x) >= 1e6 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : String(Number(x.toFixed(2)));
  }

  function colorOf(versions, v) {
    const i = versions.indexOf(v);
    return COLORS[i >= 0 && i < COLORS.length ? i : COLORS.length - 1];
  }

  function say(text, bad) {
    const m = $("message");
    m.textContent = text;
    m.classList.toggle("bad", !!bad);
  }

  function setConn(text, bad) {
    const c = $("conn");
    c.textContent = text;
    c.classList.toggle("bad", !!bad);
  }

  function authHeaders() {
    const h = { Accept: "application/json" };
    if (token) h.Authorization = `Bearer ${token}`;
    return h;
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const r = await fetch("api/status", { headers: authHeaders(), cache: "no-store", credentials: "omit", redirect: "error" });
      if (r.status === 401) {
        setConn("the status is protected: enter the token", true);
      } else if (!r.ok) {
        const j = await r.json().catch(() => ({}));
        setConn(`status: ${r.status} ${j.error || r.statusText}`, true);
      } else {
        render(await r.json());
        polls++;
        document.body.dataset.polls = String(polls);
        setConn(`live, updated ${new Date().toISOString().slice(11, 19)} UTC`, false);
      }
    } catch (e) {
      setConn(`offline: ${e.message || e}`, true);
    } finally {
      timer = setTimeout(poll, POLL_MS);
    }
  }

  function render(st) {
    const versions = (st.weights || []).map((w) => w.version);
    renderSummary(st);
    renderWeights(st, versions);
    renderCharts(st, versions);
    renderVerdict(st, versions);
    renderEvents(st.events || []);
    renderShadow(st.shadow);
    renderEndpoints(st.endpoints || []);
    renderControls(st.phase);
  }

  function renderSummary(st) {
    const p = $("phase");
    p.textContent = st.phase;
    p.dataset.phase = st.phase;
    $("step").textContent = `step ${st.step}${st.stepName ? ` (${st.stepName})` : ""}`;
    $("rollout").textContent = `${st.strategy}: ${st.baseline} → ${st.candidate}${st.dryRun ? " (dry run)" : ""}`;
    const probs = [];
    if (st.sourceError) probs.push(`metric source: ${st.sourceError}`);
    if (st.policyError) probs.push(`policy: ${st.policyError}`);
    $("problems").textContent = probs.join("  ");
  }

  function renderWeights(st, versions) {
    const items = (st.weights || []).map((w) => {
      const li = el("li", "", el("span", "version", w.version), " ", el("span", "pct", pct(w.weight)));
      li.dataset.version = w.version;
      li.style.borderColor = colorOf(versions, w.version); // CSSOM, allowed by the CSP
      return li;
    });
    $("weights").replaceChildren(...items);
  }

  function niceCeil(x) {
    if (!(x > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
    return 10 * p;
  }

  function renderCharts(st, versions) {
    const hist = (st.history || []).map((h) => ({ t: Date.parse(h.time), h })).filter((p) => !isNaN(p.t));
    // The last five minutes, or less while the rollout is younger (at
    // least half a minute, so the first ticks do not fill the width).
    const t1 = hist.length ? hist[hist.length - 1].t : Date.parse(st.now);
    const first = hist.length ? hist[0].t : t1;
    const t0 = Math.min(Math.max(first, t1 - WINDOW_MS), t1 - MIN_SPAN_MS);
    const pts = hist.filter((p) => p.t >= t0);
    const series = (pick) =>
      versions.map((v) => ({ name: v, color: colorOf(versions, v), points: pts.map((p) => [p.t, pick(p.h, v)]) }));
    chart($("chart-weights"), series((h, v) => (h.weights && v in h.weights ? h.weights[v] / 100 : null)), t0, t1, 100, (y) => `${y}%`);
    const figs = (h, v) => (h.versions || {})[v];
    const errs = series((h, v) => (figs(h, v) && figs(h, v).calls > 0 ? 100 * figs(h, v).errorRate : null));
    chart($("chart-errors"), errs, t0, t1, 0, (y) => `${num(y)}%`);
    const p99 = series((h, v) => (figs(h, v) && figs(h, v).calls > 0 ? 1000 * figs(h, v).p99 : null));
    chart($("chart-p99"), p99, t0, t1, 0, (y) => `${num(y)}`);
    const legend = versions.map((v) => {
      const s = el("span", "key", v);
      s.style.color = colorOf(versions, v);
      return s;
    });
    $("legend").replaceChildren(...legend);
  }

  // chart draws one line chart; a null value breaks its line.
  function chart(root, series, t0, t1, fixedMax, label) {
    const W = 600, H = 170, L = 52, R = 8, T = 8, B = 22;
    let max = fixedMax;
    if (!max) {
      for (const s of series) for (const [, v] of s.points) if (v !== null && v > max) max = v;
      max = niceCeil(max);
    }
    const x = (t) => L + ((W - L - R) * (t - t0)) / Math.max(1, t1 - t0);
    const y = (v) => T + (H - T - B) * (1 - Math.min(v, max) / max);
    const nodes = [];
    for (const f of [0, 0.5, 1]) {
      const yy = y(f * max);
      nodes.push(svg("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }));
      nodes.push(svg("text", { x: L - 4, y: yy + 4, "text-anchor": "end", class: "tick" }, label(f * max)));
    }
    const span = (t1 - t0) / 1000;
    const ago = span >= 120 ? `-${Math.round(span / 60)} min` : `-${Math.round(span)} s`;
    for (const [t, text] of [[t0, ago], [t1, "now"]]) {
      nodes.push(svg("text", { x: x(t), y: H - 6, "text-anchor": t === t0 ? "start" : "end", class: "tick" }, text));
    }
    for (const s of series) {
      let line = [];
      const flush = () => {
        if (line.length > 1) nodes.push(svg("polyline", { points: line.join(" "), fill: "none", stroke: s.color, "stroke-width": 2, "data-version": s.name }));
        if (line.length === 1) {
          const [cx, cy] = line[0].split(",");
          nodes.push(svg("circle", { cx, cy, r: 2.5, fill: s.color, "data-version": s.name }));
        }
        line = [];
      };
      for (const [t, v] of s.points) {
        if (v === null || v === undefined || !isFinite(v)) {
          flush();
          continue;
        }
        line.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      }
      flush();
    }
    root.dataset.points = String(series.reduce((a, s) => a + s.points.filter(([, v]) => v !== null && isFinite(v)).length, 0));
    root.replaceChildren(...nodes);
  }

  function renderVerdict(st, versions) {
    const v = st.verdict || {};
    // A judge's reason sums up its tests; with the tests listed below, the
    // headline is the outcome and the failing test.
    const headline = v.tests && v.tests.length ? (v.test ? `${v.test} failed` : "") : v.reason || "";
    const parts = [el("span", `outcome ${v.outcome || ""}`, v.outcome || "inconclusive"), " ", headline];
    const tests = (v.tests || []).map((t) => {
      const ev = t.evidence;
      const detail = ev ? ` (e-value ${num(ev.statistic)} of ${num(ev.threshold)}, α ${num(ev.alpha)}, ${ev.looks} looks)` : "";
      const reason = (t.reason || "").startsWith(`${t.test}:`) ? t.reason : `${t.test}: ${t.reason}`;
      return el("li", "", el("span", `outcome ${t.outcome}`, t.outcome), ` ${reason}${detail}`);
    });
    const box = $("verdict");
    box.replaceChildren(...parts);
    if (tests.length) box.append(el("ul", "tests", ...tests));
    if (v.evidence) {
      const ev = v.evidence;
      box.append(el("div", "evidence", `${ev.method}: e-value ${num(ev.statistic)} against ${num(ev.threshold)}; candidate ${ev.candidate.events || 0}/${ev.candidate.samples}, baseline ${ev.baseline.events || 0}/${ev.baseline.samples}`));
    }
    const rows = versions.map((name) => {
      const f = (st.stepFigures || {})[name] || {};
      return el("tr", "", el("td", "", name), el("td", "", f.calls ?? 0), el("td", "", f.errors ?? 0), el("td", "", percent(f.errorRate || 0)),
        el("td", "", ms(f.p50)), el("td", "", ms(f.p99)), el("td", "", `${f.shadowMismatches ?? 0} of ${f.shadowComparisons ?? 0}`));
    });
    $("figures").tBodies[0].replaceChildren(...rows);
    const d = st.lastDecision;
    $("last-decision").textContent = d ? `${clock(d.time)} ${d.action} by ${d.who}: ${d.reason}` : "none yet";
  }

  function weightsText(ws) {
    return (ws || []).map((w) => `${w.version} ${pct(w.weight)}`).join(", ");
  }

  function renderEvents(events) {
    const rows = events.slice(-50).reverse().map((e) => {
      const v = e.verdict;
      const tr = el("tr", e.alert ? "alert" : "",
        el("td", "", clock(e.time)), el("td", "", e.action), el("td", "", `${e.from} → ${e.phase}`), el("td", "", e.step),
        el("td", "", weightsText(e.weights)), el("td", "who", e.who), el("td", "reason", e.reason),
        el("td", "", v ? `${v.outcome}${v.test ? ` ${v.test}` : ""}${v.evidence ? ` (e-value ${num(v.evidence.statistic)} of ${num(v.evidence.threshold)})` : ""}` : ""));
      tr.dataset.seq = String(e.seq);
      tr.dataset.action = e.action;
      return tr;
    });
    $("events").tBodies[0].replaceChildren(...rows);
  }

  function renderShadow(sh) {
    if (!sh) {
      $("shadow-stats").textContent = "no shadow traffic";
      $("mismatches").tBodies[0].replaceChildren();
      $("noisy").replaceChildren();
      return;
    }
    const s = sh.stats || {};
    const counts = Object.entries(s.comparisons || {}).map(([k, n]) => `${k} ${n}`).join(", ") || "none yet";
    const drops = Object.entries(s.dropped || {}).map(([k, n]) => `${k} ${n}`).join(", ") || "none";
    $("shadow-stats").textContent = `${s.candidate} shadowed at ${percent(s.rate || 0)}: comparisons ${counts}; dropped ${drops}; in flight ${s.in_flight || 0}`;
    const rows = (sh.mismatches || []).slice(-50).reverse().map((m) => {
      const values = (m.values || []).map((fv) => el("div", "value", el("span", "path", fv.path), ": ", el("code", "", fv.primary), " | ", el("code", "", fv.shadow)));
      return el("tr", "", el("td", "", clock(m.time)), el("td", "", m.method), el("td", "", m.result),
        el("td", "", (m.fields || []).join(", ")), el("td", "values", ...values), el("td", "", `${m.primary_code} / ${m.shadow_code}`),
        el("td", "", m.shadow_error || ""));
    });
    $("mismatches").tBodies[0].replaceChildren(...rows);
    const noisy = Object.entries(sh.noisyFields || {}).map(([method, fields]) => el("li", "", el("span", "method", method), ": ", (fields || []).join(", ")));
    $("noisy").replaceChildren(...(noisy.length ? noisy : [el("li", "", "none")]));
  }

  function renderEndpoints(eps) {
    const key = (e) => `${e.version}\u0000${e.addr}`;
    const rows = [...eps].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).map((e) => el("tr", "", el("td", "", e.version), el("td", "", e.addr), el("td", "", e.state)));
    $("endpoints").tBodies[0].replaceChildren(...rows);
  }

  // renderControls enables the controls the phase allows; the server
  // checks again and answers 409 when the phase has moved on.
  function renderControls(phase) {
    const final = phase === "promoted" || phase === "rolled_back" || phase === "aborted";
    const allowed = {
      pause: phase === "pending" || phase === "progressing",
      resume: phase === "paused",
      promote: !final,
      abort: !final,
      weights: !final,
    };
    for (const b of document.querySelectorAll("button[data-action]")) b.disabled = busy || !allowed[b.dataset.action];
  }

  async function act(action) {
    const tok = $("token").value.trim();
    if (!tok) {
      say("Enter the control token first.", true);
      $("token").focus();
      return;
    }
    token = tok;
    const body = {};
    if (action === "weights") {
      const w = Number($("weight").value);
      if ($("weight").value === "" || !isFinite(w)) {
        say("Enter the candidate's weight in percent.", true);
        return;
      }
      body.weight = Math.round(w * 100);
    }
    const who = $("who").value.trim();
    const reason = $("reason").value.trim();
    if (who) body.who = who;
    if (reason) body.reason = reason;
    if ((action === "promote" || action === "abort") && !window.confirm(`${action} the rollout now?`)) return;
    busy = true;
    for (const b of document.querySelectorAll("button[data-action]")) b.disabled = true;
    say(`${action}…`, false);
    try {
      const r = await fetch(`api/${action}`, {
        method: "POST",
        headers: { ...authHeaders(), "Content-Type": "application/json" },
        body: JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        redirect: "error",
      });
      const j = await r.json().catch(() => ({}));
      if (r.ok) {
        say(`${action}: done; the rollout is ${j.phase}, weights ${weightsText(j.weights)}`, false);
      } else {
        if (r.status === 401) token = "";
        say(`${action} refused (${r.status}): ${j.error || r.statusText}`, true);
      }
    } catch (e) {
      say(`${action} failed: ${e.message || e}`, true);
    } finally {
      busy = false;
      poll();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const b of document.querySelectorAll("button[data-action]")) b.addEventListener("click", () => act(b.dataset.action));
    $("token").addEventListener("change", () => {
      token = $("token").value.trim();
      poll();
    });
    poll();
  });
})();
