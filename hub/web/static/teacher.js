// The teacher dashboard: login with the PIN, class controls, tablets and answers live, models.
"use strict";
const $ = (id) => document.getElementById(id);
let socket = null;
const students = new Map();

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || `error ${r.status}`);
  return data;
}

async function login() {
  $("login-error").textContent = "";
  try {
    await api("POST", "/api/teacher/login", { pin: $("pin").value });
    $("pin").value = "";
    enter();
  } catch (e) { $("login-error").textContent = e.message; }
}
$("login-button").addEventListener("click", login);
$("pin").addEventListener("keydown", (e) => { if (e.key === "Enter") login(); });

$("logout").addEventListener("click", async () => { await api("POST", "/api/teacher/logout"); location.reload(); });

function enter() {
  $("login").classList.add("hidden");
  $("dashboard").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  socket = io("/teacher", { transports: ["websocket", "polling"] });
  socket.on("connect_error", async () => {  // the hub restarting, or the login gone
    try { if (!(await api("GET", "/api/teacher/session")).teacher) { location.reload(); return; } } catch (e) { /* down */ }
    $("control-error").textContent = "Reconnecting to the hub…";
    setTimeout(() => socket.connect(), 1000);
  });
  socket.on("disconnect", async (reason) => {
    $("control-error").textContent = "Reconnecting to the hub…";
    if (reason !== "io server disconnect") return;  // the client reconnects by itself after any other drop
    // The hub ended this dashboard: logged out elsewhere, the login expired, or the PIN changed.
    try { if (!(await api("GET", "/api/teacher/session")).teacher) { location.reload(); return; } } catch (e) { /* down */ }
    setTimeout(() => socket.connect(), 1000);
  });
  socket.on("connect", () => { $("control-error").textContent = ""; });
  socket.on("snapshot", (s) => { renderActivities(s.activities); renderClass(s.class); renderStats(s.hub); });
  socket.on("activity", (c) => { renderClass(c); $("activity").value = c.activity.name; });
  socket.on("stats", renderStats);
  socket.on("class_state", (c) => { renderClass({ ...c, students: c.students || [...students.values()] }); });
  socket.on("class_ended", () => renderClass(null));
  socket.on("student_joined", (s) => { students.set(s.id, s); renderStudents(); });
  socket.on("student_left", (s) => { students.set(s.id, s); renderStudents(); });
  socket.on("student_kicked", (s) => { students.set(s.student_id, s.student); renderStudents(); });
  socket.on("student_forgotten", (s) => { students.delete(s.student_id); renderStudents(); });
  socket.on("answer", (a) => { students.set(a.student.id, a.student); renderStudents(); addFeed(a); });
  socket.on("heard", (m) => addFeedText(`hub microphone heard "${m.label}" (${m.model})`));
  socket.on("model_state", (m) => addFeedText(`model ${m.model}: ${m.event}${m.device ? " (" + m.device + ")" : ""}`));
}

let activities = [];
function renderActivities(list) {
  activities = list;
  const select = $("activity");
  const chosen = (list.find((a) => a.current) || {}).name || select.value;
  select.innerHTML = "";
  for (const a of list) {
    const option = document.createElement("option");
    option.value = a.name; option.textContent = a.title;
    select.appendChild(option);
  }
  if (chosen) select.value = chosen;
  $("start").disabled = list.length === 0;  // nothing to start until the hub has said what it offers
  noteActivity();
}
function noteActivity() {
  const a = activities.find((x) => x.name === $("activity").value);
  $("activity-note").textContent = a ? a.summary + (a.unavailable ? ` (${a.unavailable})` : "") : "";
  const choices = (a && a.lead_choices) || [];
  const select = $("lead-choice");
  if (select.dataset.activity !== (a && a.name)) {
    select.dataset.activity = a ? a.name : "";
    select.innerHTML = "";
    for (const c of choices) {
      const option = document.createElement("option");
      option.value = c.value; option.textContent = c.title;
      select.appendChild(option);
    }
  }
  $("lead-row").classList.toggle("hidden", !choices.length || $("code").textContent === "—");
}
$("lead-start").addEventListener("click", () => control("POST", "/api/classes/current/lead", { pose: $("lead-choice").value }));
$("lead-stop").addEventListener("click", () => control("POST", "/api/classes/current/lead", { pose: null }));
$("activity").addEventListener("change", async () => {
  noteActivity();
  if ($("code").textContent !== "—") await control("POST", "/api/classes/current/activity", { activity: $("activity").value });
});

function renderClass(c) {
  const running = !!(c && c.code);
  if (running && c.activity) $("activity").value = c.activity.name;
  $("code").textContent = running ? c.code : "—";
  $("lead-now").textContent = running && c.lead ? `Now: everyone ${c.lead.title}` : "";
  noteActivity();
  if (running && c.lead) $("lead-choice").value = c.lead.pose;
  $("state").textContent = running ? `${c.paused ? "paused" : "running"} · ${c.seats ?? 0} of ${c.max_students} seats` : "no class running";
  $("start").classList.toggle("hidden", running);
  for (const id of ["pause", "end", "export"]) $(id).classList.toggle("hidden", !running);
  $("pause").classList.toggle("hidden", !running || c.paused);
  $("resume").classList.toggle("hidden", !running || !c.paused);
  if (!running) { students.clear(); $("feed").innerHTML = ""; }
  else if (c.students) { for (const s of c.students) students.set(s.id, s); }
  if (running && c.feed) { $("feed").innerHTML = ""; for (const a of c.feed) addFeed(a); }  // rebuilt after a reconnect
  renderStudents();
}

function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }

function renderStudents() {
  const body = $("students");
  body.innerHTML = "";
  for (const s of students.values()) {
    const tr = document.createElement("tr");
    tr.dataset.student = s.nickname;
    const dot = cell(tr, ""); const d = document.createElement("span"); d.className = "dot" + (s.connected ? "" : " off");
    d.setAttribute("role", "img"); d.setAttribute("aria-label", s.connected ? "connected" : "offline"); dot.appendChild(d);
    cell(tr, s.nickname);
    cell(tr, s.answers);
    cell(tr, s.accuracy == null ? "—" : `${Math.round(s.accuracy * 100)}%`);
    cell(tr, s.median_response_ms == null ? "—" : `${(s.median_response_ms / 1000).toFixed(1)} s`);
    cell(tr, s.level != null ? `Level ${s.level}` : s.managed ? (s.managed.join(", ") || "—") : "—");
    const actions = cell(tr, "");
    const button = (text, path, confirmText) => {
      const b = document.createElement("button"); b.className = "secondary"; b.textContent = text;
      b.addEventListener("click", () => { if (!confirmText || confirm(confirmText)) control("POST", path, { student_id: s.id }); });
      actions.appendChild(b);
    };
    if (s.removed) { tr.classList.add("removed"); actions.append("removed "); }
    else if (!s.connected) actions.append(s.let_back ? "can rejoin " : "offline ");
    if (s.connected) button("Remove", "/api/classes/current/kick");
    else if (!s.let_back) button(`Let ${s.nickname} rejoin`, "/api/classes/current/let-back");
    if (s.removed) button("Delete data", "/api/classes/current/forget", `Delete ${s.nickname}'s answers for good?`);
    body.appendChild(tr);
  }
}

const FEED_MAX = 200;  // the newest answers; the export has them all
function addFeedText(text, at) {
  const p = document.createElement("div");
  p.textContent = `${(at ? new Date(at * 1000) : new Date()).toLocaleTimeString()}  ${text}`;
  const feed = $("feed");
  feed.prepend(p);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
}
function addFeed(a) {
  if (a.correct === null) { addFeedText(`${a.nickname}: ${a.question} → ${a.given} (${a.mode})`, a.at); return; }
  if (a.expected === null) { addFeedText(`${a.nickname}: ${a.question}: ${a.given} ${a.correct ? "✓" : "✗"} (${a.mode})`, a.at); return; }
  addFeedText(`${a.nickname}: ${a.question} = ${a.given} ${a.correct ? "✓" : "✗ (" + a.expected + ")"} in ${(a.response_ms / 1000).toFixed(1)} s, ${a.mode}`, a.at);
}

function renderStats(h) {
  const body = $("models");
  body.innerHTML = "";
  for (const m of h.models) {
    const tr = document.createElement("tr");
    cell(tr, m.name); cell(tr, m.status); cell(tr, m.backend ? m.backend + (m.device ? ` (${m.device})` : "") : "—");
    cell(tr, m.queue_depth ?? "—");
    cell(tr, m.latency.n ? `${m.latency.p50_ms} / ${m.latency.p95_ms} ms` : "—");
    cell(tr, m.fallbacks ?? 0);
    body.appendChild(tr);
  }
  const devices = (h.accelerators && h.accelerators.devices) || [];
  const mic = h.microphone || {};
  $("microphone").textContent = mic.available ? `Hub microphone: ${mic.detail}` : `Hub microphone: none (${mic.detail})`;
  $("accelerators").textContent = devices.length ? `Accelerators: ${devices.map((d) => `${d.device} (${d.kind}) ${d.state || ""}`).join(", ")}` : `No accelerator: models run on the CPU (${h.runtime}).`;
}

async function control(method, path, body) {
  $("control-error").textContent = "";
  try { return await api(method, path, body); } catch (e) { $("control-error").textContent = e.message; }
}
$("start").addEventListener("click", async () => { const c = await control("POST", "/api/classes", { activity: $("activity").value }); if (c) renderClass(c); });
$("pause").addEventListener("click", () => control("POST", "/api/classes/current/pause"));
$("resume").addEventListener("click", () => control("POST", "/api/classes/current/resume"));
$("end").addEventListener("click", async () => {
  if (!confirm("End the class? Every tablet is released and its answers are deleted. Export first if you want to keep them.")) return;
  await control("POST", "/api/classes/current/end");
});

api("GET", "/api/teacher/session").then((s) => { if (s.teacher) enter(); });
