// The rollout status page: polls api/status every second and draws it.
// Every value from the server goes into the page as text (textContent,
// append of strings, SVG built with createElementNS); nothing is ever parsed
// as markup. The control token lives only in this script's memory and the
// password field, and travels only in the Authorization header.
"use strict";
(() => {
  const SVGNS = "http://www.w3.org/2000/svg";
  const POLL_MS = 1000;
  const MIN_SPAN_MS = 10 * 1000; // the charts' shortest span, for a rollout just begun
  // The x axis' steps, in seconds.
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];
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
    renderPlan(st);
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

  // span says a length of time in seconds as the x axis labels it.
  function span(s) {
    if (s < 120) return `${Math.round(s)}s`;
    const m = Math.floor(s / 60), rest = Math.round(s - 60 * m);
    return rest ? `${m}m${rest}s` : `${m}m`;
  }

  function renderCharts(st, versions) {
    const hist = (st.history || []).map((h) => ({ t: Date.parse(h.time), h })).filter((p) => !isNaN(p.t));
    const events = (st.events || []).map((e) => ({ t: Date.parse(e.time), e })).filter((p) => !isNaN(p.t));
    // The whole rollout: from its first tick or decision to the last tick.
    const t1 = hist.length ? hist[hist.length - 1].t : Date.parse(st.now);
    let t0 = hist.length ? hist[0].t : t1;
    for (const p of events) if (p.t < t0) t0 = p.t;
    const end = Math.max(t1, t0 + MIN_SPAN_MS);
    const marks = events.filter((p) => p.e.action !== "alert").map((p) => ({ t: p.t, label: p.e.action }));
    const series = (points) => versions.map((v) => ({ name: v, color: colorOf(versions, v), points: points(v) }));
    const perTick = (pick) => (v) => hist.map((p) => [p.t, pick(p.h, v)]);
    const weights = series((v) => weightSteps(hist, events, v));
    chart($("chart-weights"), { series: weights, t0, t1: end, max: 100, label: (y) => `${y}%`, steps: true, marks });
    const figs = (h, v) => (h.versions || {})[v];
    const errs = series(perTick((h, v) => (figs(h, v) && figs(h, v).calls > 0 ? 100 * figs(h, v).errorRate : null)));
    chart($("chart-errors"), { series: errs, t0, t1: end, max: 0, label: (y) => `${num(y)}%`, marks });
    const p99 = series(perTick((h, v) => (figs(h, v) && figs(h, v).calls > 0 ? 1000 * figs(h, v).p99 : null)));
    chart($("chart-p99"), { series: p99, t0, t1: end, max: 0, label: (y) => `${num(y)} ms`, marks });
    const legend = versions.map((v) => {
      const s = el("span", "key", v);
      s.style.color = colorOf(versions, v);
      return s;
    });
    $("legend").replaceChildren(...legend);
  }

  // weightSteps is a version's weight (%) through the rollout, as [time,
  // weight] points each holding until the next: each tick's weights (read
  // before its decision) and each decision's, at the moment it was taken.
  function weightSteps(hist, events, v) {
    const pts = [];
    for (const p of hist) pts.push([p.t, 0, p.h.weights && v in p.h.weights ? p.h.weights[v] / 100 : null]);
    for (const p of events) {
      const w = (p.e.weights || []).find((x) => x.version === v);
      if (w) pts.push([p.t, 1, w.weight / 100]);
    }
    pts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return pts.map(([t, , w]) => [t, w]);
  }

  // chart draws one chart in an SVG whose viewBox is its box in pixels, so
  // that its labels have the size the style gives them. A null value breaks
  // a line; with steps, each value holds until the next point and the last
  // until t1, so a weight change is a vertical jump, never a slope.
  function chart(root, { series, t0, t1, max: fixedMax, label, steps, marks }) {
    const W = Math.max(300, Math.round(root.getBoundingClientRect().width || 600));
    const H = 180, L = 64, R = 12, T = 10, B = 26;
    root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    let max = fixedMax;
    if (!max) {
      for (const s of series) for (const [, v] of s.points) if (v !== null && v > max) max = v;
      max = niceCeil(max);
    }
    const x = (t) => L + ((W - L - R) * (t - t0)) / Math.max(1, t1 - t0);
    const y = (v) => T + (H - T - B) * (1 - Math.min(v, max) / max);
    const nodes = [svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" })];
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const yy = y(f * max);
      nodes.push(svg("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }));
      nodes.push(svg("text", { x: L - 6, y: yy + 4, "text-anchor": "end", class: "tick" }, label(f * max)));
    }
    const secs = (t1 - t0) / 1000;
    const want = secs / Math.max(2, Math.floor((W - L - R) / 90));
    const every = TIME_STEPS.find((d) => d >= want) || TIME_STEPS[TIME_STEPS.length - 1];
    for (let s = 0; s <= secs + 1e-9; s += every) {
      const xx = x(t0 + 1000 * s);
      nodes.push(svg("line", { x1: xx, x2: xx, y1: H - B, y2: H - B + 4, class: "axis" }));
      const anchor = s === 0 ? "start" : xx > W - R - 30 ? "end" : "middle";
      nodes.push(svg("text", { x: xx, y: H - 6, "text-anchor": anchor, class: "tick" }, s === 0 ? "start" : `+${span(s)}`));
    }
    for (const m of marks || []) {
      const line = svg("line", { x1: x(m.t), x2: x(m.t), y1: T, y2: H - B, class: "mark", stroke: "#9ca3af", "data-action": m.label });
      line.append(svg("title", {}, m.label));
      nodes.push(line);
    }
    for (const s of series) nodes.push(...drawSeries(s, x, y, steps ? t1 : null));
    root.dataset.points = String(series.reduce((a, s) => a + s.points.filter(([, v]) => v !== null && isFinite(v)).length, 0));
    root.dataset.t0 = String(t0);
    root.dataset.t1 = String(t1);
    root.replaceChildren(...nodes);
  }

  // drawSeries draws a series as lines broken at null values: as steps
  // held until `until`, or straight from point to point when it is null.
  function drawSeries(s, x, y, until) {
    const nodes = [];
    let line = [];
    const flush = () => {
      if (line.length > 1) nodes.push(svg("polyline", { points: line.join(" "), fill: "none", stroke: s.color, "stroke-width": 2, "data-version": s.name }));
      if (line.length === 1) {
        const [cx, cy] = line[0].split(",");
        nodes.push(svg("circle", { cx, cy, r: 2.5, fill: s.color, "data-version": s.name }));
      }
      line = [];
    };
    const at = (t, v) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    let prev = null;
    for (const [t, v] of s.points) {
      if (v === null || v === undefined || !isFinite(v)) {
        if (until !== null && prev !== null) line.push(at(t, prev));
        flush();
        prev = null;
        continue;
      }
      if (until !== null && prev !== null) line.push(at(t, prev));
      line.push(at(t, v));
      prev = v;
    }
    if (until !== null && prev !== null) line.push(at(until, prev));
    flush();
    return nodes;
  }

  function verdictLine(v) {
    const ev = v.evidence;
    return ev ? ` (e-value ${num(ev.statistic)} of ${num(ev.threshold)})` : "";
  }

  function renderVerdict(st, versions) {
    // The step's own test decides it when the strategy has one (blue/green's
    // shadow gate and rollback window); otherwise the judge does.
    const own = st.stepVerdict;
    const v = own || st.verdict || {};
    // A judge's reason sums up its tests; with the tests listed below, the
    // headline is the outcome and the failing test.
    let headline = v.tests && v.tests.length ? (v.test ? `${v.test} failed` : "") : v.reason || "";
    if (own) headline = `${own.test}: ${own.reason}`;
    const parts = [el("span", `outcome ${v.outcome || ""}`, v.outcome || "inconclusive"), " ", headline];
    const tests = (v.tests || []).map((t) => {
      const ev = t.evidence;
      const detail = ev ? ` (e-value ${num(ev.statistic)} of ${num(ev.threshold)}, α ${num(ev.alpha)}, ${ev.looks} looks)` : "";
      const reason = (t.reason || "").startsWith(`${t.test}:`) ? t.reason : `${t.test}: ${t.reason}`;
      return el("li", "", el("span", `outcome ${t.outcome}`, t.outcome), ` ${reason}${detail}`);
    });
    const box = $("verdict");
    box.replaceChildren(...parts);
    box.dataset.test = own ? own.test : "judge";
    if (tests.length) box.append(el("ul", "tests", ...tests));
    if (v.evidence) {
      const ev = v.evidence;
      box.append(el("div", "evidence", `${ev.method}: e-value ${num(ev.statistic)} against ${num(ev.threshold)}; candidate ${ev.candidate.events || 0}/${ev.candidate.samples}, baseline ${ev.baseline.events || 0}/${ev.baseline.samples}`));
    }
    if (own && st.verdict) box.append(el("div", "judge", `the judge: ${st.verdict.outcome} ${st.verdict.reason || ""}`));
    const rows = versions.map((name) => {
      const f = (st.stepFigures || {})[name] || {};
      return el("tr", "", el("td", "", name), el("td", "", f.calls ?? 0), el("td", "", f.errors ?? 0), el("td", "", percent(f.errorRate || 0)),
        el("td", "", ms(f.p50)), el("td", "", ms(f.p99)), el("td", "", `${f.shadowMismatches ?? 0} of ${f.shadowComparisons ?? 0}`));
    });
    $("figures").tBodies[0].replaceChildren(...rows);
    const d = st.lastDecision;
    $("last-decision").textContent = d ? `${clock(d.time)} ${d.action} by ${d.who}: ${d.reason}` : "none yet";
  }

  // renderPlan shows the strategy's steps: those done, with their time,
  // calls and the verdict they ended on; the current one, with its gate's
  // progress; and those to come, with their gates.
  function renderPlan(st) {
    const plan = st.plan || [];
    const gate = (name) => plan.find((p) => p.name === name) || {};
    const secs = (ns) => (ns ? ns / 1e9 : 0);
    const rows = (st.steps || []).map((s) => {
      const took = (Date.parse(s.end) - Date.parse(s.start)) / 1000;
      return planRow("done", s.name || `step ${s.step}`, gate(s.name), took, s.calls, s.verdict, `${s.endedBy} by ${s.who}`);
    });
    const final = ["promoted", "rolled_back", "aborted"].includes(st.phase);
    if (st.step > 0 && !final) {
      const inStep = Math.max(0, (Date.parse(st.now) - Date.parse(st.stepStart)) / 1000);
      const calls = ((st.stepFigures || {})[st.candidate] || {}).calls || 0;
      rows.push(planRow("current", st.stepName || `step ${st.step}`, gate(st.stepName), inStep, calls, st.stepVerdict || st.verdict, st.phase));
    }
    if (!final) {
      const seen = [...(st.steps || []).map((s) => s.name), st.stepName].map((n) => plan.findIndex((p) => p.name === n));
      for (const p of plan.slice(Math.max(-1, ...seen) + 1)) rows.push(planRow("next", p.name, p, null, null, null, ""));
    }
    $("plan").tBodies[0].replaceChildren(...(rows.length ? rows : [el("tr", "", el("td", "", "the strategy names no plan"))]));

    function planRow(state, name, g, took, calls, verdict, ended) {
      const minS = secs(g.minDuration), minC = g.minCalls || 0;
      const time = took === null ? (minS ? `≥ ${span(minS)}` : "") : state === "current" && minS ? `${span(took)} of ${span(minS)}` : span(took);
      const n = calls === null ? (minC ? `≥ ${minC}` : "") : state === "current" && minC ? `${calls} of ${minC}` : String(calls);
      const v = verdict ? `${verdict.outcome}${verdict.test ? ` ${verdict.test}` : ""}${verdictLine(verdict)}` : "";
      const tr = el("tr", "", el("td", "", name), el("td", "", state), el("td", "", time), el("td", "", n), el("td", "", g.test || ""),
        el("td", "reason", v), el("td", "", ended));
      tr.dataset.state = state;
      tr.dataset.step = name;
      return tr;
    }
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
