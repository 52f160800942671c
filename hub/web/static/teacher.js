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
  socket.on("snapshot", (s) => { renderActivities(s.activities); renderClass(s.class); renderStats(s.hub); renderTeach(s.teach); listTeach(); });
  socket.on("activity", (c) => { renderClass(c); $("activity").value = c.activity.name; });
  socket.on("stats", renderStats);
  socket.on("class_state", (c) => { renderClass({ ...c, students: c.students || [...students.values()] }); });
  socket.on("class_ended", () => { renderClass(null); teachState.projects = []; renderTeach(null); });
  socket.on("teach", onTeach);
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
  showTeachPanel();
}
$("lead-start").addEventListener("click", () => control("POST", "/api/classes/current/lead", { pose: $("lead-choice").value }));
$("lead-stop").addEventListener("click", () => control("POST", "/api/classes/current/lead", { pose: null }));
$("activity").addEventListener("change", async () => {
  noteActivity();
  if ($("code").textContent !== "—") await control("POST", "/api/classes/current/activity", { activity: $("activity").value });
});

let classActivity = null;  // the class's activity (the menu may show another until it is switched)
function renderClass(c) {
  const running = !!(c && c.code);
  if (!running) classActivity = null; else if (c.activity) classActivity = c.activity.name;
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

function cell(row, text, tag = "td") { const c = document.createElement(tag); c.textContent = text; row.appendChild(c); return c; }

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
    const tries = s.tries === 1 ? "1 try" : s.tries ? `${s.tries} tries` : "";  // Teach the hub
    const taught = [s.examples ? plural(s.examples, "example") : "", tries].filter(Boolean).join(", ");
    cell(tr, s.level != null ? `Level ${s.level}` : s.managed ? (s.managed.join(", ") || "—") : taught || "—");
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
  taughtModels(h.models);
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

// --- Teach the hub: say what to teach, watch it learn, save it -------------------------------------
// The panel shows the project on the tablets (the snapshot's `teach`, then each `teach` event);
// it holds counts and who gave them, never a picture (the hub keeps none).
const teachState = { status: null, projects: [], saved: {}, taught: [], busy: false };
const TEACH = "teach-the-hub";
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const teachPath = (name, rest = "") => `/api/teach/${encodeURIComponent(name)}${rest}`;

function showTeachPanel() {
  const running = $("code").textContent !== "—";
  const wanted = running && ($("activity").value === TEACH || classActivity === TEACH || !!teachState.status);
  $("teach-panel").classList.toggle("hidden", !wanted);
}

async function teachCall(method, path, body) {  // one at a time: a double tap does not create twice
  if (teachState.busy) return null;
  teachState.busy = true;
  $("teach-error").textContent = "";
  try { return await api(method, path, body); } catch (e) { $("teach-error").textContent = e.message; return null; }
  finally { teachState.busy = false; }
}

async function listTeach() {  // the class's projects, and which one the tablets show
  if ($("code").textContent === "—") { teachState.projects = []; renderOthers(); return; }
  try {
    const listed = await api("GET", "/api/teach");
    teachState.projects = listed.projects;
    const shown = teachState.status && teachState.status.name;
    if (listed.current && listed.current !== shown) renderTeach(await api("GET", teachPath(listed.current)));
    else if (!listed.current && shown) renderTeach(null);
    else renderOthers();
  } catch (e) { /* no class (409) or the hub restarting: the next event tries again */ }
}

function onTeach(m) {
  const shown = teachState.status && teachState.status.name;
  if (m.deleted || !teachState.projects.some((p) => p.name === m.project)) { listTeach(); return; }
  if (m.project === shown) renderTeach(m.status);
}

function renderTeach(status) {
  const had = !!teachState.status;
  teachState.status = status || null;
  const s = teachState.status;
  $("teach-status").classList.toggle("hidden", !s);
  if (had !== !!s || !s) $("teach-new").open = !s;  // nothing taught yet: the form is what the teacher needs
  $("teach-new-summary").textContent = s ? "Teach the hub something else" : "Teach the hub something new";
  showTeachPanel();
  renderOthers();
  if (!s) {  // the tables' heads and totals are made with them: none left while nothing is taught
    for (const id of ["teach-examples", "teach-confusion"]) { $(id).deleteTHead(); $(id).deleteTFoot(); }
    return;
  }
  const examples = s.kind === "poses" ? "poses" : "photos";
  $("teach-name").textContent = `${s.name}: ${s.labels.join(", ")}`;
  const pupils = s.by_pupil.filter((p) => !p.id.startsWith("@")).length;
  const givers = [...(pupils ? [plural(pupils, "pupil")] : []),
    ...s.by_pupil.filter((p) => p.id.startsWith("@")).map((p) => p.nickname)];  // the teacher, an earlier lesson
  const from = givers.length < 2 ? givers.join("") : `${givers.slice(0, -1).join(", ")} and ${givers[givers.length - 1]}`;
  $("teach-state").textContent = [
    `Learning from ${examples}: ${plural(s.total, "example")}${from ? ", from " + from : ""}.`,
    s.frozen ? "Frozen: it is not learning now (the tablets can still try it)." : "",
    s.ready ? "The tablets can try it." : "The tablets can try it once two things have examples.",
    s.reopened_from ? `It goes on from the saved model ${s.reopened_from}.` : "",
  ].filter(Boolean).join(" ");
  $("teach-freeze").textContent = s.frozen ? "Unfreeze: learn again" : "Freeze: stop learning";
  $("teach-freeze").setAttribute("aria-pressed", String(s.frozen));
  $("teach-save").disabled = !s.ready;
  renderSaved();
  renderExamples(s);
  renderAccuracy(s);
}

function renderExamples(s) {
  const table = $("teach-examples"), head = table.createTHead(), body = $("teach-examples-body"), foot = table.createTFoot();
  head.innerHTML = ""; body.innerHTML = ""; foot.innerHTML = "";
  const top = document.createElement("tr");
  cell(top, "Pupil", "th").scope = "col";
  for (const label of s.labels) { const th = cell(top, label, "th"); th.scope = "col"; th.className = "num"; }
  const total = cell(top, "Total", "th"); total.scope = "col"; total.className = "num";
  const actions = cell(top, "", "th"); actions.scope = "col";
  const hidden = document.createElement("span"); hidden.className = "visually-hidden"; hidden.textContent = "Actions";
  actions.appendChild(hidden);
  head.appendChild(top);
  for (const p of s.by_pupil) {
    const tr = document.createElement("tr");
    tr.dataset.pupil = p.nickname;
    cell(tr, p.nickname, "th").scope = "row";
    for (const n of p.counts) cell(tr, n).className = "num";
    cell(tr, p.total).className = "num";
    const b = document.createElement("button");
    b.className = "secondary";
    b.textContent = "Remove their examples";
    b.setAttribute("aria-label", `Remove ${p.nickname}'s examples`);
    b.addEventListener("click", async () => {
      if (!confirm(`Remove the ${plural(p.total, "example")} ${p.nickname} gave? The hub learns again without them.`)) return;
      const done = await teachCall("DELETE", teachPath(s.name, `/examples?given_by=${encodeURIComponent(p.id)}`));
      if (done) renderTeach(done);
    });
    cell(tr, "").appendChild(b);
    body.appendChild(tr);
  }
  if (!s.by_pupil.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, "No examples yet: each tablet takes a photo, then taps what it shows.");
    td.colSpan = s.labels.length + 3;
    body.appendChild(tr);
  }
  const all = document.createElement("tr");
  cell(all, "Everyone", "th").scope = "row";
  for (const n of s.counts) cell(all, n).className = "num";
  cell(all, s.total).className = "num";
  cell(all, "");
  foot.appendChild(all);
}

function renderAccuracy(s) {
  const a = s.accuracy;
  const measured = a && a.value != null;
  $("teach-accuracy").textContent = measured ? `${Math.round(a.value * 100)}% right` : "Not measured yet";
  const how = !a ? "" : a.method === "leave-one-out" ? "tested on each example in turn, leaving it out of the learning"
    : `tested in ${parseInt(a.method, 10) || 5} rounds, each time on a part of the examples left out of the learning`;
  $("teach-method").textContent = measured ? `How: ${how} (${plural(a.tested, "test")}).` : "";
  $("teach-advice").textContent = a ? a.advice
    : "Give examples of at least two things, two or more of each, to see how well it has learnt.";
  $("teach-confusion-wrap").classList.toggle("hidden", !measured);
  const table = $("teach-confusion"), body = $("teach-confusion-body");
  table.deleteTHead();
  body.innerHTML = "";
  if (!measured) return;
  const head = table.createTHead();
  const top = document.createElement("tr");
  cell(top, "It was ↓ · the hub said →", "th").scope = "col";
  for (const label of s.labels) { const th = cell(top, label, "th"); th.scope = "col"; th.className = "num"; }
  head.appendChild(top);
  a.confusion.forEach((row, i) => {
    const tr = document.createElement("tr");
    cell(tr, s.labels[i], "th").scope = "row";
    row.forEach((n, j) => {
      const td = cell(tr, n);
      td.className = "num" + (n ? (i === j ? " hit" : " miss") : "");
    });
    body.appendChild(tr);
  });
}

function renderSaved() {
  const s = teachState.status, saved = s && teachState.saved[s.name];
  $("teach-saved-note").classList.toggle("hidden", !saved);
  if (!saved) return;
  $("teach-export").href = teachPath(s.name, "/export");
  $("teach-saved-text").textContent = `Saved at ${saved.at} as the model "${saved.model}" (${plural(saved.examples, "example")}). ` +
    `What is this? can now use it on every tablet${saved.status === "ready" ? "" : " once it is ready"}. ` +
    "Save again to keep newer examples.";
}

function renderOthers() {
  const s = teachState.status;
  const others = teachState.projects.filter((p) => !s || p.name !== s.name);
  const select = $("teach-others");
  select.innerHTML = "";
  for (const p of others) {
    const option = document.createElement("option");
    option.value = p.name; option.textContent = `${p.name}: ${p.labels.join(", ")}`;
    select.appendChild(option);
  }
  $("teach-others-row").classList.toggle("hidden", !others.length);
  // saved taught models (from the hub's model list) that this lesson is not teaching now
  const reopenable = teachState.taught.filter((m) => !teachState.projects.some((p) => p.name === m));
  const saved = $("teach-saved");
  const keep = saved.value;
  saved.innerHTML = "";
  for (const m of reopenable) {
    const option = document.createElement("option");
    option.value = m; option.textContent = m;
    saved.appendChild(option);
  }
  if (reopenable.includes(keep)) saved.value = keep;
  $("teach-reopen-row").classList.toggle("hidden", !reopenable.length);
}

function taughtModels(models) {  // from the hub's figures (the same list as GET /api/models), kept fresh
  const names = models.filter((m) => m.task === "taught-classification" && m.status === "ready").map((m) => m.name).sort();
  if (names.join("\n") === teachState.taught.join("\n")) return;
  teachState.taught = names;
  renderOthers();
}

async function onTheTablets(status) {  // a project was made or reopened: the class goes to the activity
  if (!status) return;
  renderTeach(status);
  if (classActivity !== TEACH) {
    const c = await teachCall("POST", "/api/classes/current/activity", { activity: TEACH });
    if (c) { renderClass(c); $("activity").value = TEACH; }
  }
  listTeach();
}

function thingsToLearn(text) {
  return text.split(/[\n,]/).map((t) => t.trim()).filter(Boolean);
}
$("teach-create").addEventListener("click", async () => {
  const name = $("teach-new-name").value.trim().toLowerCase().replace(/\s+/g, "-");
  const kind = document.querySelector("input[name=teach-kind]:checked").value;
  const status = await teachCall("POST", "/api/teach", { name, labels: thingsToLearn($("teach-new-labels").value), kind });
  if (!status) return;
  $("teach-new-name").value = ""; $("teach-new-labels").value = "";
  await onTheTablets(status);
});
$("teach-new-name").addEventListener("keydown", (e) => { if (e.key === "Enter") $("teach-create").click(); });
$("teach-reopen").addEventListener("click", async () => {
  await onTheTablets(await teachCall("POST", teachPath($("teach-saved").value, "/reopen"), {}));
});
$("teach-show").addEventListener("click", async () => {
  const status = await teachCall("POST", teachPath($("teach-others").value, "/current"));
  if (status) await onTheTablets(status);
});
$("teach-freeze").addEventListener("click", async () => {
  const s = teachState.status;
  const done = s && await teachCall("POST", teachPath(s.name, "/freeze"), { frozen: !s.frozen });
  if (done) renderTeach(done);
});
$("teach-save").addEventListener("click", async () => {
  const s = teachState.status;
  const saved = s && await teachCall("POST", teachPath(s.name, "/save"));
  if (!saved) return;
  teachState.saved[s.name] = { ...saved, at: new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) };
  renderSaved();
});
$("teach-delete").addEventListener("click", async () => {
  const s = teachState.status;
  if (!s || !confirm(`Delete ${s.name} and every example given for it? A model you saved from it stays.`)) return;
  if (await teachCall("DELETE", teachPath(s.name))) { delete teachState.saved[s.name]; listTeach(); }
});
