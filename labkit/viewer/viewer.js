// Trace viewer: reads the failure record embedded in the page and draws it. No network access.
//
// Two x axes: "step" puts every event of the trace in its own column (so the fifteen events of
// one virtual instant stand apart), "time" uses virtual seconds. The page opens on the step
// axis, centred on the violation, with the events just before it highlighted.
"use strict";
(function () {
  const R = JSON.parse(document.getElementById("record").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const LANE_H = 64, AXIS_Y = 14, LABEL_ROW = 13, LABEL_ROWS = 3, LEFT = 70, RIGHT = 24;
  const TOP = AXIS_Y + 10 + LABEL_ROW * LABEL_ROWS;
  const RECENT = 25;                            // events highlighted before the violation
  const svg = document.getElementById("diagram");
  const trace = R.trace || [];
  const nodes = R.nodes || [];
  const lane = Object.fromEntries(nodes.map((n, i) => [n, i]));
  const lastT = trace.length ? trace[trace.length - 1][0] : 0;
  const endTime = Math.max(R.time || 0, lastT, 0.001) * 1.02 + 0.01;
  const endStep = trace.length + 1;
  const fmt = (t) => Number(t).toFixed(3) + "s";

  // index of the last event at or before virtual time t (-1 if none)
  function stepAt(t) {
    let lo = 0, hi = trace.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (trace[mid][0] <= t) lo = mid + 1; else hi = mid; }
    return lo - 1;
  }
  const timeAtStep = (i) => (i <= 0 || !trace.length) ? 0 : trace[Math.min(trace.length - 1, Math.floor(i))][0];

  // ----- index the trace --------------------------------------------------------------------
  const sends = new Map(), arrivals = new Map(), drops = new Map(), opSteps = new Map();
  const marks = [], logs = [], down = [], paused = [], bands = [], roles = [], faults = [];
  const openDown = {}, openPause = {}, openRole = {};
  let openBand = null;
  const types = new Set();
  const parse = (detail) => { try { return JSON.parse(detail); } catch (e) { return null; } };
  const msgType = (m) => (m && typeof m === "object" && typeof m.type === "string") ? m.type : "?";
  const END = { t: endTime, i: endStep };
  trace.forEach((r, i) => {
    const [t, kind, node, peer, detail, ref] = r;
    const at = { t, i };
    if (kind === "send") {
      const m = parse(detail), ty = msgType(m);
      types.add(ty);
      sends.set(ref, { at, src: node, dst: peer, detail, ty, m });
    } else if (kind === "deliver") {
      (arrivals.get(ref) || arrivals.set(ref, []).get(ref)).push(at);
    } else if (kind === "drop" && peer) {
      drops.set(ref, { at, why: detail });
    } else if (kind === "fault") {
      if (openBand) { openBand.b = at; bands.push(openBand); openBand = null; }
      if (!detail.startsWith("heal") && !detail.startsWith("network")) openBand = { a: at, b: END, text: detail };
      faults.push({ at, text: detail });
    } else if (kind === "state") {
      if (openRole[node]) { openRole[node].b = at; roles.push(openRole[node]); }
      openRole[node] = { node, a: at, b: END, text: detail };
    } else {
      if (kind === "request" || kind === "reply" || kind === "timeout") {
        const s = opSteps.get(ref) || {}; s[kind === "request" ? "call" : "ret"] = i; opSteps.set(ref, s);
      }
      if (kind === "crash") {
        openDown[node] = { node, a: at, b: END }; down.push(openDown[node]);
        if (openRole[node]) { openRole[node].b = at; roles.push(openRole[node]); delete openRole[node]; }
      }
      if (kind === "restart" && openDown[node]) { openDown[node].b = at; delete openDown[node]; }
      if (kind === "pause") { openPause[node] = { node, a: at, b: END }; paused.push(openPause[node]); }
      if (kind === "resume" && openPause[node]) { openPause[node].b = at; delete openPause[node]; }
      if (["crash", "restart", "pause", "resume"].includes(kind)) faults.push({ at, text: `${kind} ${node}` + (detail && kind === "resume" ? ` (${detail})` : "") });
      if (kind === "log") logs.push({ t, node, detail });
      if (node && lane[node] !== undefined) marks.push({ at, node, kind, detail, peer, ref });
    }
  });
  if (openBand) bands.push(openBand);
  Object.values(openRole).forEach((r) => roles.push(r));

  // the violation: where it happened, which lanes it names, and the events just before it
  const hasViolation = R.time !== null && R.time !== undefined;
  const vStep = hasViolation ? stepAt(R.time) : -1;
  const V = { t: R.time || 0, i: vStep + 0.5 };
  const named = new Set(nodes.filter((n) => new RegExp("(^|[^\\w])" + n + "(?![\\w])").test(R.evidence || "")));
  const recent = (i) => hasViolation && i <= vStep && i > vStep - RECENT;

  // ----- view state ---------------------------------------------------------------------------
  let mode = "step";
  let v0 = 0, v1 = endStep;
  const hiddenNodes = new Set(), hiddenTypes = new Set();
  let keyFilter = "";
  const width = () => svg.clientWidth || 1000;
  const pos = (p) => mode === "time" ? p.t : p.i;
  const x = (p) => LEFT + (pos(p) - v0) / (v1 - v0) * (width() - LEFT - RIGHT);
  const y = (n) => TOP + lane[n] * LANE_H + LANE_H / 2;
  const visible = (a, b) => pos(b) >= v0 && pos(a) <= v1;
  const clampX = (px) => Math.max(LEFT, Math.min(width() - RIGHT, px));
  let layer = svg;                               // the plot area (clipped) while rendering
  const el = (name, attrs, parent, text) => {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    (parent || layer).appendChild(e);
    return e;
  };
  const span = (a, b) => ({ x: clampX(x(a)), w: Math.max(1, clampX(x(b)) - clampX(x(a))) });

  function centreOn(p, halfSteps) {
    if (mode === "step") {
      const half = Math.max(halfSteps || 40, 5);
      v0 = p.i - half * 1.2; v1 = p.i + half * 0.8;   // room on the right keeps it central
    } else {
      const half = Math.max(endTime / 20, 0.02);
      v0 = p.t - half; v1 = p.t + half;
    }
  }

  function keyOf(m) {
    if (!m || typeof m !== "object") return null;
    for (const f of ["key", "k"]) if (typeof m[f] === "string" || typeof m[f] === "number") return String(m[f]);
    return null;
  }
  const keyShown = (m) => !keyFilter || keyOf(m) === keyFilter;

  function summary(ty, m) {
    if (!m || typeof m !== "object") return ty;
    const parts = [];
    for (const k of Object.keys(m)) {
      if (k === "type") continue;
      const v = m[k];
      if (v === null || ["string", "number", "boolean"].includes(typeof v)) parts.push(`${k}=${JSON.stringify(v).slice(0, 24)}`);
      else if (Array.isArray(v)) parts.push(`${k}=[${v.length}]`);
      if (parts.length >= 5) break;
    }
    return `${ty} ${parts.join(" ")}`;
  }

  // ----- drawing ------------------------------------------------------------------------------
  function render() {
    svg.innerHTML = "";
    const bottom = TOP + nodes.length * LANE_H;
    svg.setAttribute("height", bottom + 30);
    layer = svg;
    el("defs", {}).innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#4a77c9"/></marker>' +
      `<clipPath id="plot"><rect x="${LEFT - 6}" y="0" width="${width() - LEFT - RIGHT + 12}" height="${bottom + 30}"/></clipPath>`;
    nodes.filter((n) => !hiddenNodes.has(n)).forEach((n) => el("text", { class: "lane-label" + (named.has(n) ? " named" : ""), x: 8, y: y(n) + 4 }, svg, n));
    layer = el("g", { "clip-path": "url(#plot)" }, svg);
    drawAxis(bottom);
    drawBands(bottom);
    nodes.forEach(drawLane);
    drawOps();
    drawMessages();
    marks.filter((m) => !hiddenNodes.has(m.node) && pos(m.at) >= v0 && pos(m.at) <= v1 && m.kind !== "send").forEach((m) => {
      const big = ["crash", "restart", "start", "pause", "resume"].includes(m.kind);
      const c = el("circle", { class: "ev " + m.kind + (recent(m.at.i) ? " recent" : ""), cx: x(m.at), cy: y(m.node), r: big ? 5 : 2.5 });
      el("title", {}, c, `#${m.at.i + 1} ${fmt(m.at.t)} ${m.node} ${m.kind} ${String(m.detail || "").slice(0, 80)}`);
      c.addEventListener("click", () => select(c, { kind: m.kind, at: m.at, node: m.node, peer: m.peer, detail: m.detail }));
    });
    drawViolation(bottom);
  }

  function drawAxis(bottom) {
    const axis = el("g", { class: "axis" });
    const step = niceStep((v1 - v0) / 10);
    for (let v = Math.ceil(v0 / step) * step; v <= v1; v += step) {
      const p = mode === "time" ? { t: v, i: 0 } : { t: 0, i: v };
      el("line", { x1: x(p), x2: x(p), y1: AXIS_Y + 4, y2: bottom }, axis);
      const label = mode === "time" ? fmt(v) : `#${Math.round(v)} · ${fmt(timeAtStep(v))}`;
      if (x(p) + 2 + label.length * 6 <= width() - RIGHT + 6) el("text", { x: x(p) + 2, y: AXIS_Y }, axis, label);
    }
  }

  // Fault bands across all lanes; their labels go in rows above the lanes and never overlap
  // (a label that finds no free row is left out: its band still has the tooltip).
  function drawBands(bottom) {
    const rows = new Array(LABEL_ROWS).fill(-Infinity);   // right end of each row's last label
    bands.filter((b) => visible(b.a, b.b)).forEach((b) => {
      const s = span(b.a, b.b);
      const r = el("rect", { class: "partition", x: s.x, y: TOP, width: s.w, height: bottom - TOP });
      el("title", {}, r, `${fmt(b.a.t)} ${b.text}`);
      r.addEventListener("click", () => show({ kind: "network fault", at: b.a, detail: b.text + (b.b !== END ? " (until " + fmt(b.b.t) + ")" : "") }));
      const row = rows.findIndex((end) => end <= s.x);
      if (row < 0) return;
      const maxChars = Math.max(3, Math.floor((width() - RIGHT - s.x) / 6.2));
      const text = b.text.length > maxChars ? b.text.slice(0, maxChars - 1) + "…" : b.text;
      el("text", { class: "partition-label", x: s.x + 2, y: AXIS_Y + 10 + LABEL_ROW * (row + 1) }, layer, text);
      rows[row] = s.x + text.length * 6.2 + 6;
    });
  }

  function drawLane(n) {
    if (hiddenNodes.has(n)) return;
    roles.filter((r) => r.node === n && visible(r.a, r.b)).forEach((r) => {
      const role = (r.text.split(" ")[0] || "").toLowerCase();
      const cls = ["leader", "candidate", "follower", "closed", "open", "half_open"].includes(role) ? "role-" + role : "role-other";
      const s = span(r.a, r.b);
      const rect = el("rect", { class: "role " + cls, x: s.x, y: y(n) - 7, width: s.w, height: 14 });
      el("title", {}, rect, `${n}: ${r.text} from ${fmt(r.a.t)}`);
      rect.addEventListener("click", () => show({ kind: "state", at: r.a, node: n, detail: r.text }));
      if (s.w > 60) el("text", { class: "role-text", x: s.x + 2, y: y(n) + 4 }, layer, r.text.slice(0, Math.floor(s.w / 6)));
    });
    el("line", { class: "lane" + (named.has(n) ? " named" : ""), x1: LEFT, x2: width() - RIGHT, y1: y(n), y2: y(n) });
    down.filter((d) => d.node === n && visible(d.a, d.b)).forEach((d) => { const s = span(d.a, d.b); el("line", { class: "lane down", x1: s.x, x2: s.x + s.w, y1: y(n), y2: y(n) }); });
    paused.filter((d) => d.node === n && visible(d.a, d.b)).forEach((d) => { const s = span(d.a, d.b); el("rect", { class: "paused", x: s.x, y: y(n) - 12, width: s.w, height: 24 }); });
  }

  // client operations, as intervals just under their node's lane
  function drawOps() {
    (R.history || []).forEach((op) => {
      if (hiddenNodes.has(op.node) || lane[op.node] === undefined || !keyShown(op.input)) return;
      const st = opSteps.get(op.id) || {};
      const a = { t: op.call, i: st.call !== undefined ? st.call : stepAt(op.call) + 1 };
      const b = op.ret === null ? (st.ret !== undefined ? { t: trace[st.ret][0], i: st.ret } : END) : { t: op.ret, i: st.ret !== undefined ? st.ret : stepAt(op.ret) };
      if (!visible(a, b)) return;
      const yy = y(op.node) + 16 + (op.id % 3) * 6;
      const line = el("line", { class: "op " + op.status + (culprits.has(op.id) ? " culprit" : ""), x1: clampX(x(a)), x2: Math.max(clampX(x(b)), clampX(x(a)) + 3), y1: yy, y2: yy });
      el("title", {}, line, `op#${op.id} ${op.client} ${JSON.stringify(op.input).slice(0, 60)} -> ${JSON.stringify(op.output).slice(0, 60)} (${op.status})`);
      line.addEventListener("click", () => select(line, { kind: "operation", at: a, node: op.node, detail: JSON.stringify(op, null, 1) }));
    });
  }

  // messages: arrows from send to each delivery, dashed red to the place they were dropped
  function drawMessages() {
    sends.forEach((s, ref) => {
      if (hiddenNodes.has(s.src) || hiddenNodes.has(s.dst) || hiddenTypes.has(s.ty) || !keyShown(s.m)) return;
      const tip = `${summary(s.ty, s.m)}\n${s.src} → ${s.dst}, sent ${fmt(s.at.t)}`;
      (arrivals.get(ref) || []).forEach((a) => {
        if (!visible(s.at, a)) return;
        const line = el("line", { class: "msg" + (recent(a.i) ? " recent" : ""), x1: x(s.at), y1: y(s.src), x2: x(a), y2: y(s.dst), "marker-end": "url(#arrow)" });
        clickable(line, tip + `, delivered ${fmt(a.t)}`, { kind: "message " + s.ty, at: s.at, node: s.src, peer: s.dst, detail: s.detail, extra: "delivered at " + fmt(a.t) });
      });
      const d = drops.get(ref);
      if (d && visible(s.at, d.at)) {
        const xm = (x(s.at) + Math.max(x(d.at), x(s.at) + 8)) / 2, ym = (y(s.src) + y(s.dst)) / 2;
        const line = el("line", { class: "msg dropped", x1: x(s.at), y1: y(s.src), x2: xm, y2: ym });
        el("path", { class: "drop-mark", d: `M${xm - 4},${ym - 4}L${xm + 4},${ym + 4}M${xm - 4},${ym + 4}L${xm + 4},${ym - 4}` });
        clickable(line, tip + `, dropped ${fmt(d.at.t)}: ${d.why}`, { kind: "dropped message " + s.ty, at: s.at, node: s.src, peer: s.dst, detail: s.detail, extra: "dropped at " + fmt(d.at.t) + ": " + d.why });
      }
    });
  }

  function drawViolation(bottom) {
    if (!hasViolation || pos(V) < v0 || pos(V) > v1) return;
    const vx = x(V);
    el("line", { class: "violation", x1: vx, x2: vx, y1: AXIS_Y + 4, y2: bottom + 6 });
    nodes.filter((n) => named.has(n) && !hiddenNodes.has(n)).forEach((n) => el("circle", { class: "violation-mark", cx: vx, cy: y(n), r: 8 }));
    const text = "violation: " + (R.property || "") + " at " + fmt(R.time);
    const room = Math.max(vx - LEFT, width() - RIGHT - vx);
    const right = vx > (LEFT + width() - RIGHT) / 2;
    const maxChars = Math.max(10, Math.floor((room - 6) / 7));
    el("text", { class: "violation-label", x: vx + (right ? -4 : 4), y: bottom + 22, "text-anchor": right ? "end" : "start" }, layer,
      text.length > maxChars ? text.slice(0, maxChars - 1) + "…" : text);
  }

  // A thin arrow is hard to hit: a transparent wide twin on top takes hover and clicks.
  function clickable(line, tip, info) {
    const hit = el("line", { class: "hit", x1: line.getAttribute("x1"), y1: line.getAttribute("y1"), x2: line.getAttribute("x2"), y2: line.getAttribute("y2") });
    el("title", {}, hit, tip);
    hit.addEventListener("click", () => select(line, info));
  }

  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    const s = [1, 2, 5, 10].map((k) => k * p).find((v) => v >= raw) || raw;
    return mode === "step" ? Math.max(1, Math.round(s)) : s;
  }

  let selectedEl = null;
  function select(e, info) {
    if (selectedEl) selectedEl.classList.remove("selected");
    selectedEl = e; e.classList.add("selected");
    show(info);
  }
  function show(info) {
    const body = document.getElementById("details-body");
    body.innerHTML = "";
    const add = (tag, text, cls) => { const e = document.createElement(tag); e.textContent = text; if (cls) e.className = cls; body.appendChild(e); return e; };
    add("div", `${info.kind} at ${fmt(info.at.t)} (event #${info.at.i + 1})${info.node ? " on " + info.node : ""}${info.peer ? " → " + info.peer : ""}`).style.fontWeight = "600";
    if (info.extra) add("div", info.extra);
    let payload = info.detail || "";
    try { payload = JSON.stringify(JSON.parse(payload), null, 2); } catch (e) { /* plain text */ }
    add("h2", "Payload"); add("pre", payload || "(none)", "payload");
    if (info.node) {
      const lines = logs.filter((l) => l.node === info.node && l.t <= info.at.t).slice(-15);
      add("h2", `Log of ${info.node} up to ${fmt(info.at.t)}`);
      add("pre", lines.map((l) => fmt(l.t) + "  " + l.detail).join("\n") || "(no log lines: use self.log() in your node)");
    }
  }

  // ----- header, faults, filters, axis toggle, zoom and pan -----------------------------------
  document.getElementById("title").textContent = `${R.name || R.test || "trace"}`;
  document.getElementById("verdict").textContent = R.nondeterministic ? R.nondeterministic : `${R.property}: ${R.evidence}`;
  document.getElementById("meta").textContent = `failure ${R.id || ""} · seed ${R.seed} · ${nodes.length} nodes · ${trace.length} events${R.trace_truncated ? " (trace cut short)" : ""} · digest ${String(R.digest || "").slice(0, 16)} · replay: nox -s replay -- ${R.id || ""}`;
  document.getElementById("schedule").textContent = (R.schedule || []).join("\n") || "(none: this test's faults, if any, are applied by its scenario; see below)";
  const faultList = document.getElementById("faults");
  if (!faults.length) faultList.textContent = "(no faults in this run)";
  faults.forEach((f) => {
    const li = document.createElement("li");
    li.textContent = `t=${fmt(f.at.t)}  ${f.text}`;
    li.addEventListener("click", () => { centreOn(f.at, 20); render(); });
    faultList.appendChild(li);
  });
  const nf = document.getElementById("node-filters");
  nodes.forEach((n) => nf.appendChild(checkbox(n, hiddenNodes)));
  const tf = document.getElementById("type-filters");
  [...types].sort().forEach((t) => tf.appendChild(checkbox(t, hiddenTypes)));
  function checkbox(name, hidden) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = true; box.dataset.name = name;
    box.addEventListener("change", () => { box.checked ? hidden.delete(name) : hidden.add(name); render(); });
    label.appendChild(box); label.appendChild(document.createTextNode(" " + name));
    return label;
  }
  document.getElementById("key-filter").addEventListener("input", (ev) => { keyFilter = ev.target.value.trim(); render(); });
  const axisButton = document.getElementById("axis-toggle");
  function setMode(m) {
    if (m === mode) return;
    const a = mode === "time" ? { t: v0, i: stepAt(v0) } : { t: timeAtStep(v0), i: v0 };
    const b = mode === "time" ? { t: v1, i: stepAt(v1) + 1 } : { t: timeAtStep(v1), i: v1 };
    mode = m;
    v0 = pos(a); v1 = pos(b);
    if (v1 - v0 < (mode === "time" ? 1e-6 : 2)) { v1 = v0 + (mode === "time" ? 0.01 : 10); }
    axisButton.textContent = mode === "step" ? "Axis: event order (switch to time)" : "Axis: virtual time (switch to event order)";
    svg.dataset.axis = mode;
    render();
  }
  axisButton.addEventListener("click", () => setMode(mode === "step" ? "time" : "step"));
  document.getElementById("reset-zoom").addEventListener("click", () => { v0 = 0; v1 = mode === "time" ? endTime : endStep; render(); });
  document.getElementById("to-violation").addEventListener("click", () => { centreOn(V, RECENT); render(); });
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = svg.getBoundingClientRect();
    const at = v0 + (ev.clientX - rect.left - LEFT) / (width() - LEFT - RIGHT) * (v1 - v0);
    const k = ev.deltaY < 0 ? 0.8 : 1.25;
    v0 = at - (at - v0) * k; v1 = at + (v1 - at) * k;
    render();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, v0, v1 }; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const dv = (ev.clientX - drag.x) / (width() - LEFT - RIGHT) * (drag.v1 - drag.v0);
    v0 = drag.v0 - dv; v1 = drag.v1 - dv;
    render();
  });
  window.addEventListener("resize", render);

  // ----- linearizability: the failing key's operations, Porcupine-style -------------------------
  const lin = (R.details || {}).linearizability;
  const culprits = new Set();
  if (lin) drawLinearizability(lin);

  function drawLinearizability(lin) {
    const box = document.getElementById("linearizability");
    const h = document.createElement("h2"); h.textContent = "Linearizability: the operations of the key that cannot be ordered"; box.appendChild(h);
    if (lin.explanation) { const p = document.createElement("pre"); p.textContent = lin.explanation; box.appendChild(p); }
    Object.keys(lin.keys || {}).sort().forEach((key) => {
      const entry = lin.keys[key];
      const bad = new Set(entry.culprits || []);
      bad.forEach((id) => culprits.add(id));
      const order = new Map((entry.prefix || []).map((id, k) => [id, k + 1]));
      const cap = document.createElement("h2");
      cap.textContent = `key ${key}: ${(entry.ops || []).length} operations; the longest linearizable prefix has ${order.size}; red cannot be placed after it`;
      box.appendChild(cap);
      box.appendChild(historyChart(entry.ops || [], order, bad));
      const table = document.createElement("table"); table.className = "ops";
      table.innerHTML = "<tr><th>op</th><th>order</th><th>client</th><th>call</th><th>return</th><th>input</th><th>output</th><th>status</th></tr>";
      (entry.ops || []).forEach((op) => {
        const tr = document.createElement("tr");
        if (bad.has(op.id)) tr.className = "culprit"; else if (order.has(op.id)) tr.className = "placed";
        [op.id, order.get(op.id) || "", op.lane || op.client, fmt(op.call), op.ret === null ? "never" : fmt(op.ret), JSON.stringify(op.input), JSON.stringify(op.output), op.status]
          .forEach((v) => { const td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td); });
        table.appendChild(tr);
      });
      box.appendChild(table);
    });
  }

  // one lane per client, a bar from call to return per operation (open-ended if it never
  // returned). The x axis is the order of the calls and returns, evenly spaced: what decides
  // linearizability is which operations overlap, and real gaps would squeeze them together.
  function historyChart(ops, order, bad) {
    const chart = document.createElementNS(SVG, "svg");
    chart.setAttribute("class", "history");
    const laneOf = (o) => o.lane || o.client;
    const clients = [...new Set(ops.map(laneOf))].sort();
    const times = [...new Set(ops.flatMap((o) => o.ret === null ? [o.call] : [o.call, o.ret]))].sort((a, b) => a - b);
    const rank = new Map(times.map((t, k) => [t, k]));
    const W = 1100, H = 26, L = 90, slot = Math.max(14, Math.min(120, (W - L - 40) / Math.max(1, times.length)));
    const hx = (t) => L + rank.get(t) * slot;
    const width = L + times.length * slot + 40;
    chart.setAttribute("viewBox", `0 0 ${width} ${clients.length * H + 24}`);
    chart.setAttribute("width", Math.min(width, 1400));
    clients.forEach((c, k) => { el("text", { class: "lane-label", x: 4, y: k * H + 18 }, chart, c); });
    ops.forEach((op) => {
      const k = clients.indexOf(laneOf(op));
      const x0 = hx(op.call), x1 = op.ret === null ? width - 10 : Math.max(hx(op.ret), x0 + 4);
      const cls = bad.has(op.id) ? "bar culprit" : order.has(op.id) ? "bar placed" : "bar";
      const r = el("rect", { class: cls + (op.ret === null ? " open" : ""), x: x0, y: k * H + 6, width: x1 - x0, height: H - 10, rx: 3 }, chart);
      el("title", {}, r, `op#${op.id} ${laneOf(op)} [${fmt(op.call)} .. ${op.ret === null ? "no reply" : fmt(op.ret)}] ${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)} (${op.status})`);
      const label = (order.has(op.id) ? order.get(op.id) + ". " : "") + opLabel(op);
      el("text", { class: "bar-text", x: x0 + 3, y: k * H + 19 }, chart, label.slice(0, Math.max(2, Math.floor((x1 - x0) / 6))));
    });
    el("text", { class: "axis-note", x: L, y: clients.length * H + 18 }, chart, `calls and returns in order, ${fmt(times[0] || 0)} … ${fmt(times[times.length - 1] || 0)} (hover a bar for its times)`);
    return chart;
  }
  function opLabel(op) {
    const i = op.input || {}, o = op.output || {};
    const what = i.op || i.type || "op";
    const arg = i.value !== undefined ? ` ${JSON.stringify(i.value)}` : "";
    const res = o.value !== undefined ? ` → ${JSON.stringify(o.value)}` : (o.error ? ` → ${o.error}` : "");
    return `${what}${arg}${res}`;
  }

  // ----- open on the violation ------------------------------------------------------------------
  svg.dataset.axis = mode;
  if (hasViolation) centreOn(V, RECENT);
  render();
})();
