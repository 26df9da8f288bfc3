// Trace viewer: reads the failure record embedded in the page and draws it. No network access.
"use strict";
(function () {
  const R = JSON.parse(document.getElementById("record").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const LANE_H = 64, TOP = 34, LEFT = 70, RIGHT = 20;
  const svg = document.getElementById("diagram");
  const trace = R.trace || [];
  const nodes = R.nodes || [];
  const lane = Object.fromEntries(nodes.map((n, i) => [n, i]));
  const endTime = Math.max(R.time || 0, trace.length ? trace[trace.length - 1][0] : 1) * 1.02 + 0.01;

  // ----- index the trace --------------------------------------------------------------------
  const sends = new Map(), arrivals = new Map(), drops = new Map();
  const marks = [], logs = [], down = [], paused = [], bands = [], roles = [];
  const openDown = {}, openPause = {}, openRole = {};
  let openBand = null;
  const types = new Set();
  const msgType = (detail) => { try { const m = JSON.parse(detail); return (m && m.type) || "?"; } catch (e) { return "?"; } };
  trace.forEach((r, i) => {
    const [t, kind, node, peer, detail, ref] = r;
    if (kind === "send") { const ty = msgType(detail); types.add(ty); sends.set(ref, { t, src: node, dst: peer, detail, ty, i }); }
    else if (kind === "deliver") { (arrivals.get(ref) || arrivals.set(ref, []).get(ref)).push({ t, i }); }
    else if (kind === "drop" && peer) { drops.set(ref, { t, why: detail, i }); }
    else if (kind === "fault") {
      if (openBand) { openBand.t1 = t; bands.push(openBand); openBand = null; }
      if (!detail.startsWith("heal") && !detail.startsWith("network")) openBand = { t0: t, t1: endTime, text: detail };
      marks.push({ t, node: null, kind, detail, i });
    } else if (kind === "state") {
      if (openRole[node]) { openRole[node].t1 = t; roles.push(openRole[node]); }
      openRole[node] = { node, t0: t, t1: endTime, text: detail };
    } else {
      if (kind === "crash") {
        openDown[node] = { node, t0: t, t1: endTime }; down.push(openDown[node]);
        if (openRole[node]) { openRole[node].t1 = t; roles.push(openRole[node]); delete openRole[node]; }
      }
      if (kind === "restart" && openDown[node]) { openDown[node].t1 = t; delete openDown[node]; }
      if (kind === "pause") { openPause[node] = { node, t0: t, t1: endTime }; paused.push(openPause[node]); }
      if (kind === "resume" && openPause[node]) { openPause[node].t1 = t; delete openPause[node]; }
      if (kind === "log") logs.push({ t, node, detail });
      if (node && lane[node] !== undefined && kind !== "deliver") marks.push({ t, node, kind, detail, peer, ref, i });
    }
  });
  if (openBand) bands.push(openBand);
  Object.values(openRole).forEach((r) => roles.push(r));

  // ----- view state ---------------------------------------------------------------------------
  let t0 = 0, t1 = endTime;
  const hiddenNodes = new Set(), hiddenTypes = new Set();
  const width = () => svg.clientWidth || 1000;
  const x = (t) => LEFT + (t - t0) / (t1 - t0) * (width() - LEFT - RIGHT);
  const y = (n) => TOP + lane[n] * LANE_H + LANE_H / 2;
  const el = (name, attrs, parent) => {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    (parent || svg).appendChild(e);
    return e;
  };
  const visible = (a, b) => b >= t0 && a <= t1;
  const fmt = (t) => t.toFixed(3) + "s";

  function render() {
    svg.innerHTML = "";
    svg.setAttribute("height", TOP + nodes.length * LANE_H + 20);
    const axis = el("g", { class: "axis" });
    const step = niceStep((t1 - t0) / 10);
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      el("line", { x1: x(t), x2: x(t), y1: TOP - 8, y2: TOP + nodes.length * LANE_H }, axis);
      const lbl = el("text", { x: x(t) + 2, y: TOP - 12 }, axis); lbl.textContent = fmt(t);
    }
    bands.filter((b) => visible(b.t0, b.t1)).forEach((b) => {
      const r = el("rect", { class: "partition", x: x(Math.max(b.t0, t0)), y: TOP, width: Math.max(1, x(Math.min(b.t1, t1)) - x(Math.max(b.t0, t0))), height: nodes.length * LANE_H });
      r.addEventListener("click", () => show({ kind: "network fault", t: b.t0, detail: b.text + (b.t1 < endTime ? " (until " + fmt(b.t1) + ")" : "") }));
      const lbl = el("text", { class: "partition-label", x: x(Math.max(b.t0, t0)) + 3, y: TOP + 10 }); lbl.textContent = b.text;
    });
    nodes.forEach((n) => {
      if (hiddenNodes.has(n)) return;
      const lbl = el("text", { class: "lane-label", x: 8, y: y(n) + 4 }); lbl.textContent = n;
      roles.filter((r) => r.node === n && visible(r.t0, r.t1)).forEach((r) => {
        const role = (r.text.split(" ")[0] || "").toLowerCase();
        const cls = ["leader", "candidate", "follower"].includes(role) ? "role-" + role : "role-other";
        const rect = el("rect", { class: cls, x: x(Math.max(r.t0, t0)), y: y(n) - 7, width: Math.max(1, x(Math.min(r.t1, t1)) - x(Math.max(r.t0, t0))), height: 14 });
        rect.addEventListener("click", () => show({ kind: "state", t: r.t0, node: n, detail: r.text }));
        if (x(Math.min(r.t1, t1)) - x(Math.max(r.t0, t0)) > 60) { const tl = el("text", { x: x(Math.max(r.t0, t0)) + 2, y: y(n) + 4, "font-size": 10 }); tl.textContent = r.text; }
      });
      el("line", { class: "lane", x1: LEFT, x2: width() - RIGHT, y1: y(n), y2: y(n) });
      down.filter((d) => d.node === n && visible(d.t0, d.t1)).forEach((d) => el("line", { class: "lane down", x1: x(Math.max(d.t0, t0)), x2: x(Math.min(d.t1, t1)), y1: y(n), y2: y(n) }));
      paused.filter((d) => d.node === n && visible(d.t0, d.t1)).forEach((d) => el("rect", { class: "paused", x: x(Math.max(d.t0, t0)), y: y(n) - 12, width: Math.max(1, x(Math.min(d.t1, t1)) - x(Math.max(d.t0, t0))), height: 24 }));
    });
    // client operations, as intervals just under their node's lane
    (R.history || []).forEach((op) => {
      if (hiddenNodes.has(op.node) || lane[op.node] === undefined) return;
      const end = op.ret === null ? op.call + (op.status === "pending" ? 0 : 1) : op.ret;
      if (!visible(op.call, end)) return;
      const culprit = culprits.has(op.id);
      const yy = y(op.node) + 16 + (op.id % 3) * 6;
      const line = el("line", { class: "op " + op.status + (culprit ? " culprit" : ""), x1: x(op.call), x2: Math.max(x(end), x(op.call) + 3), y1: yy, y2: yy });
      line.addEventListener("click", () => select(line, { kind: "operation", t: op.call, node: op.node, detail: JSON.stringify(op, null, 1) }));
    });
    // messages: arrows from send to each delivery, dashed red to the place they were dropped
    sends.forEach((s, ref) => {
      if (hiddenNodes.has(s.src) || hiddenNodes.has(s.dst) || hiddenTypes.has(s.ty)) return;
      (arrivals.get(ref) || []).forEach((a) => {
        if (!visible(s.t, a.t)) return;
        const line = el("line", { class: "msg", x1: x(s.t), y1: y(s.src), x2: x(a.t), y2: y(s.dst), "marker-end": "url(#arrow)" });
        clickable(line, { kind: "message " + s.ty, t: s.t, node: s.src, peer: s.dst, detail: s.detail, extra: "delivered at " + fmt(a.t) });
      });
      const d = drops.get(ref);
      if (d && visible(s.t, d.t)) {
        const xm = (x(s.t) + Math.max(x(d.t), x(s.t) + 8)) / 2, ym = (y(s.src) + y(s.dst)) / 2;
        const line = el("line", { class: "msg dropped", x1: x(s.t), y1: y(s.src), x2: xm, y2: ym });
        el("path", { class: "drop-mark", d: `M${xm - 4},${ym - 4}L${xm + 4},${ym + 4}M${xm - 4},${ym + 4}L${xm + 4},${ym - 4}` });
        clickable(line, { kind: "dropped message " + s.ty, t: s.t, node: s.src, peer: s.dst, detail: s.detail, extra: "dropped at " + fmt(d.t) + ": " + d.why });
      }
    });
    marks.filter((m) => m.node && !hiddenNodes.has(m.node) && m.t >= t0 && m.t <= t1 && m.kind !== "send").forEach((m) => {
      const big = ["crash", "restart", "start", "pause", "resume"].includes(m.kind);
      const c = el("circle", { class: "ev " + m.kind, cx: x(m.t), cy: y(m.node), r: big ? 5 : 2.5 });
      c.addEventListener("click", () => select(c, m));
    });
    el("defs", {}).innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#4a77c9"/></marker>';
    if (R.time !== null && R.time !== undefined && R.time >= t0 && R.time <= t1) {
      el("line", { class: "violation", x1: x(R.time), x2: x(R.time), y1: TOP - 20, y2: TOP + nodes.length * LANE_H });
      const nearRight = x(R.time) > width() - 260;
      const v = el("text", { class: "violation-label", x: x(R.time) + (nearRight ? -4 : 4), y: TOP - 22, "text-anchor": nearRight ? "end" : "start" });
      v.textContent = "violation: " + (R.property || "");
    }
  }

  // A thin arrow is hard to hit: a transparent wide twin on top takes the clicks.
  function clickable(line, info) {
    const hit = el("line", { class: "hit", x1: line.getAttribute("x1"), y1: line.getAttribute("y1"), x2: line.getAttribute("x2"), y2: line.getAttribute("y2") });
    hit.addEventListener("click", () => select(line, info));
  }

  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    return [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw) || raw;
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
    add("div", `${info.kind} at ${fmt(info.t)}${info.node ? " on " + info.node : ""}${info.peer ? " → " + info.peer : ""}`).style.fontWeight = "600";
    if (info.extra) add("div", info.extra);
    let payload = info.detail || "";
    try { payload = JSON.stringify(JSON.parse(payload), null, 2); } catch (e) { /* plain text */ }
    add("h2", "Payload"); add("pre", payload || "(none)", "payload");
    if (info.node) {
      const lines = logs.filter((l) => l.node === info.node && l.t <= info.t).slice(-15);
      add("h2", `Log of ${info.node} up to ${fmt(info.t)}`);
      add("pre", lines.map((l) => fmt(l.t) + "  " + l.detail).join("\n") || "(no log lines: use self.log() in your node)");
    }
  }

  // ----- header, filters, zoom and pan --------------------------------------------------------
  document.getElementById("title").textContent = `${R.name || R.test || "trace"}`;
  document.getElementById("verdict").textContent = R.nondeterministic ? R.nondeterministic : `${R.property}: ${R.evidence}`;
  document.getElementById("meta").textContent = `failure ${R.id || ""} · seed ${R.seed} · ${nodes.length} nodes · ${trace.length} events · digest ${String(R.digest || "").slice(0, 16)} · replay: nox -s replay -- ${R.id || ""}`;
  document.getElementById("schedule").textContent = (R.schedule || []).join("\n") || "(no faults)";
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
  document.getElementById("reset-zoom").addEventListener("click", () => { t0 = 0; t1 = endTime; render(); });
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = svg.getBoundingClientRect();
    const at = t0 + (ev.clientX - rect.left - LEFT) / (width() - LEFT - RIGHT) * (t1 - t0);
    const k = ev.deltaY < 0 ? 0.8 : 1.25;
    t0 = at - (at - t0) * k; t1 = at + (t1 - at) * k;
    render();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, t0, t1 }; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const dt = (ev.clientX - drag.x) / (width() - LEFT - RIGHT) * (drag.t1 - drag.t0);
    t0 = drag.t0 - dt; t1 = drag.t1 - dt;
    render();
  });
  window.addEventListener("resize", render);

  // ----- linearizability: a per-key view of the operations that cannot be ordered --------------
  const lin = (R.details || {}).linearizability;
  const culprits = new Set();
  if (lin) {
    const box = document.getElementById("linearizability");
    const h = document.createElement("h2"); h.textContent = "Linearizability: operations that cannot be ordered"; box.appendChild(h);
    if (lin.explanation) { const p = document.createElement("pre"); p.textContent = lin.explanation; box.appendChild(p); }
    Object.keys(lin.keys || {}).sort().forEach((key) => {
      const entry = lin.keys[key];
      (entry.culprits || []).forEach((id) => culprits.add(id));
      const cap = document.createElement("h2"); cap.textContent = "key " + key; box.appendChild(cap);
      const table = document.createElement("table"); table.className = "ops";
      table.innerHTML = "<tr><th>op</th><th>client</th><th>call</th><th>return</th><th>input</th><th>output</th><th>status</th></tr>";
      (entry.ops || []).forEach((op) => {
        const tr = document.createElement("tr");
        if ((entry.culprits || []).includes(op.id)) tr.className = "culprit";
        [op.id, op.client, fmt(op.call), op.ret === null ? "never" : fmt(op.ret), JSON.stringify(op.input), JSON.stringify(op.output), op.status]
          .forEach((v) => { const td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td); });
        table.appendChild(tr);
      });
      box.appendChild(table);
    });
  }
  render();
})();
