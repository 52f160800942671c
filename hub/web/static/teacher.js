// The teacher dashboard: login with the PIN, how pupils join, the class (Eyes on me), answers and
// tablets live, Teach the hub; the engineering figures are kept in "Details for IT" (closed).
"use strict";
const $ = (id) => document.getElementById(id);
let socket = null;
const students = new Map();

class HubReply extends Error {  // the hub's JSON error: its words, its code and any figures it carries
  constructor(status, data) {
    super(data.error || `error ${status}`);
    this.status = status; this.data = data;
  }
}

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new HubReply(r.status, data);
  return data;
}

const plural = (n, word, words = word + "s") => `${n} ${n === 1 ? word : words}`;
function wait(seconds) {  // "45 seconds", "2 minutes": how long to wait, as said aloud
  return seconds < 90 ? plural(Math.ceil(seconds), "second") : plural(Math.ceil(seconds / 60), "minute");
}

// --- Login: a wrong PIN says how many tries are left, a locked device how long to wait -------------
let lockedUntil = 0;
function loginMessage(e) {
  const d = (e && e.data) || {};
  if (!(e instanceof HubReply)) return "The hub is not answering: check the Wi-Fi, then try again.";
  if (d.retry_after_s != null && (e.status === 429 || d.tries_left === 0)) {
    lock(d.retry_after_s);
    if ((d.error || "").includes("new devices")) {
      return `Too many wrong PINs on this hub: wait ${wait(d.retry_after_s)}, or log in from a device you used before.`;
    }
    if ((d.error || "").includes("being checked")) return "The hub is checking a PIN: try again in a moment.";
    return `Wrong PIN too many times: this device must wait ${wait(d.retry_after_s)} before trying again.`;
  }
  if (e.status === 401) {
    return d.tries_left != null
      ? `Wrong PIN. You can try ${plural(d.tries_left, "more time", "more times")} before this device must wait.`
      : "Wrong PIN. Check it and try again.";
  }
  if (e.status === 503) return "The hub is busy: try again in a moment.";
  return e.message;
}
function lock(seconds) {  // the button waits with the hub, and says so
  lockedUntil = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((lockedUntil - Date.now()) / 1000);
    const button = $("login-button");
    if (left <= 0) {
      button.disabled = false; button.textContent = "Log in";
      $("login-error").textContent = "You can try again now.";
      return;
    }
    button.disabled = true;
    button.textContent = `Log in (wait ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")})`;
    setTimeout(tick, 250);
  };
  tick();
}
async function login() {
  if (Date.now() < lockedUntil) return;
  $("login-error").textContent = "";
  try {
    await api("POST", "/api/teacher/login", { pin: $("pin").value });
    $("pin").value = "";
    enter();
  } catch (e) { $("login-error").textContent = loginMessage(e); }
}
$("login-button").addEventListener("click", login);
$("pin").addEventListener("keydown", (e) => { if (e.key === "Enter") login(); });

$("logout").addEventListener("click", async () => { await api("POST", "/api/teacher/logout"); location.reload(); });

function enter() {
  $("login").classList.add("hidden");
  $("dashboard").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  socket = io("/teacher", { transports: ["websocket"] });
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
  socket.on("heard", (m) => addFeedLine(null, `The hub's microphone heard "${m.label}"`));
  socket.on("model_state", (m) => hubEvent(`model ${m.model}: ${m.event}${m.device ? " (" + m.device + ")" : ""}`));
}

// --- The activity: what it is, and in a teacher's words why it cannot run ---------------------------
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
  const reasons = $("activity-reasons");  // the hub's own words, for IT
  reasons.innerHTML = "";
  for (const a of list.filter((x) => x.unavailable)) {
    const li = document.createElement("li"); li.textContent = `${a.title}: ${a.unavailable}`; reasons.appendChild(li);
  }
  if (!reasons.children.length) { const li = document.createElement("li"); li.textContent = "None."; reasons.appendChild(li); }
  noteActivity();
}
function whyNot(a) {  // the teacher's sentence; the hub's reason is in Details
  const reason = a.unavailable.toLowerCase();
  if (/microphone|speech|speak/.test(reason)) return "Speaking needs the hub's microphone set up: ask IT (see Details).";
  if (reason.includes("model")) return `${a.title} needs something installed on the hub first: ask IT (see Details).`;
  return `${a.title} cannot run on this hub yet: ask IT (see Details).`;
}
function noteActivity() {
  const a = activities.find((x) => x.name === $("activity").value);
  $("activity-note").textContent = a ? a.summary + "." : "";
  if (a && a.unavailable) {
    const why = document.createElement("strong"); why.textContent = whyNot(a);
    $("activity-note").append(" ", why);
  }
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
  $("lead-row").classList.toggle("hidden", !choices.length || !running());
  showTeachPanel();
}
$("lead-start").addEventListener("click", () => control("POST", "/api/classes/current/lead", { pose: $("lead-choice").value }));
$("lead-stop").addEventListener("click", () => control("POST", "/api/classes/current/lead", { pose: null }));
$("activity").addEventListener("change", async () => {
  noteActivity();
  const a = activities.find((x) => x.name === $("activity").value);
  if (running() && !(a && a.unavailable)) {  // one that cannot run: the note says why, the class goes on
    await control("POST", "/api/classes/current/activity", { activity: $("activity").value });
  }
});

// --- The class: how pupils join, its state in plain words, Eyes on me ---------------------------------
const running = () => $("code").textContent !== "—";
let classActivity = null;  // the class's activity (the menu may show another until it is switched)
let paused = false;
function renderClass(c) {
  const focused = document.activeElement && document.activeElement.id;  // before its button is hidden
  const on = !!(c && c.code);
  if (!on) classActivity = null; else if (c.activity) classActivity = c.activity.name;
  if (on && c.activity) $("activity").value = c.activity.name;
  const was = $("code").textContent;
  $("code").textContent = on ? c.code : "—";
  if ($("code").textContent !== was) showJoin(on ? c.code : null);
  $("lead-now").textContent = on && c.lead ? `Now: everyone ${c.lead.title}` : "";
  noteActivity();
  if (on && c.lead) $("lead-choice").value = c.lead.pose;
  paused = on && !!c.paused;
  document.body.classList.toggle("class-paused", paused);
  $("paused-banner").classList.toggle("hidden", !paused);
  $("state").textContent = !on ? "No class running. Choose an activity, then start a class."
    : paused ? `Class paused: ${classTitle(c)}.` : `Class running: ${classTitle(c)}.`;
  $("start-row").classList.toggle("hidden", on);
  $("pause-row").classList.toggle("hidden", !on);
  $("join-card").classList.toggle("hidden", !on);
  $("figures").classList.toggle("hidden", !on);
  for (const id of ["end", "export"]) $(id).classList.toggle("hidden", !on);
  $("pause").classList.toggle("hidden", !on || paused);
  $("resume").classList.toggle("hidden", !on || !paused);
  // the button pressed went away: its partner takes the keyboard's focus (and Enter again undoes it)
  if (focused === "pause" && paused) $("resume").focus();
  if (focused === "resume" && on && !paused) $("pause").focus();
  if (focused === "start" && on) $("pause").focus();
  if (!on) { students.clear(); $("feed").innerHTML = ""; }
  else if (c.students) { for (const s of c.students) students.set(s.id, s); }
  if (on && c.feed) { $("feed").innerHTML = ""; for (const a of c.feed) addFeed(a); }  // rebuilt after a reconnect
  $("feed-empty").classList.toggle("hidden", $("feed").children.length > 0);
  renderStudents();
}
function classTitle(c) {
  return (c.activity && c.activity.title) || (activities.find((a) => a.name === classActivity) || {}).title || "";
}

let joinAsked = 0;
async function showJoin(code) {  // the address and QR code the hub gives (its X-Join-Url), for this class
  const asked = ++joinAsked;
  if (!code) return;
  try {
    const r = await fetch("/api/classes/current/qr.svg", { cache: "no-store" });
    if (!r.ok || asked !== joinAsked) return;
    const url = (r.headers.get("X-Join-Url") || location.origin + "/").split("?")[0];
    const picture = URL.createObjectURL(await r.blob());
    if (asked !== joinAsked) return;
    for (const id of ["join-url", "big-url"]) $(id).textContent = url;
    $("big-code").textContent = code;
    for (const id of ["qr", "big-qr"]) {
      if ($(id).src.startsWith("blob:")) URL.revokeObjectURL($(id).src);
      $(id).src = picture;
      $(id).alt = `QR code: a tablet's camera opens ${url} with the code ${code}`;
    }
  } catch (e) { /* the hub restarting: the next class state shows it again */ }
}
// The address changes when the teacher turns on the secure address on "Set up tablets" (another
// tab, often): asked again when this tab comes back into view, and every 30 s.
const joinAgain = () => { if (running() && !document.hidden) showJoin($("code").textContent); };
document.addEventListener("visibilitychange", joinAgain);
setInterval(joinAgain, 30000);
$("show-big").addEventListener("click", () => $("big").showModal());  // Escape closes it (the dialog's own)
$("big-close").addEventListener("click", () => $("big").close());

function renderFigures() {
  const all = [...students.values()].filter((s) => !s.removed);
  const connected = all.filter((s) => s.connected).length;
  const answers = all.reduce((n, s) => n + (s.answers || 0), 0);
  const judged = all.filter((s) => s.accuracy != null);
  const right = judged.reduce((n, s) => n + (s.correct || 0), 0);
  $("fig-tablets").textContent = connected;
  $("fig-tablets-words").textContent = connected === 1 ? "tablet connected" : "tablets connected";
  $("fig-answers").textContent = answers;
  $("fig-answers-words").textContent = answers === 1 ? "answer" : "answers";
  $("fig-right").textContent = judged.length ? right : "—";
}

// Words for screen readers only, after a control's visible text (which must begin its accessible
// name: axe-core's label-content-name-mismatch), e.g. "Remove" + ": Ada".
function srOnly(text) { const s = document.createElement("span"); s.className = "visually-hidden"; s.textContent = text; return s; }

function cell(row, text, tag = "td") { const c = document.createElement(tag); c.textContent = text; row.appendChild(c); return c; }
const COLUMNS = ["Connected", "Pupil", "Answers", "Right", "Time to answer", "Progress", ""];  // named again in each cell for the phone layout

function renderStudents() {
  const body = $("students");
  body.innerHTML = "";
  for (const s of students.values()) {
    const tr = document.createElement("tr");
    tr.dataset.student = s.nickname;
    const dot = cell(tr, ""); const d = document.createElement("span"); d.className = "dot" + (s.connected ? "" : " off");
    d.setAttribute("role", "img"); d.setAttribute("aria-label", s.connected ? "connected" : "not connected"); dot.appendChild(d);
    cell(tr, s.nickname).className = "pupil";
    cell(tr, s.answers);
    cell(tr, s.accuracy == null ? "—" : `${s.correct} (${Math.round(s.accuracy * 100)}%)`);
    cell(tr, s.median_response_ms == null ? "—" : `${(s.median_response_ms / 1000).toFixed(1)} s`);
    const tries = s.tries === 1 ? "1 try" : s.tries ? `${s.tries} tries` : "";  // Teach the hub
    const taught = [s.examples ? plural(s.examples, "example") : "", tries].filter(Boolean).join(", ");
    cell(tr, s.level != null ? `Level ${s.level}` : s.managed ? (s.managed.join(", ") || "—") : taught || "—");
    const actions = cell(tr, "");
    actions.className = "actions";
    const button = (text, path, confirmText, label) => {
      const b = document.createElement("button"); b.className = "secondary"; b.textContent = text;
      if (label) b.append(srOnly(label));
      b.addEventListener("click", () => { if (!confirmText || confirm(confirmText)) control("POST", path, { student_id: s.id }); });
      actions.appendChild(b);
    };
    if (s.removed) { tr.classList.add("removed"); actions.append("Removed "); }
    else if (!s.connected) actions.append(s.let_back ? "Can come back " : "Not connected ");
    if (s.connected) button("Remove", "/api/classes/current/kick", null, `: ${s.nickname}`);
    else if (!s.let_back) button("Let back in", "/api/classes/current/let-back", null, `: ${s.nickname}`);
    if (s.removed) button("Delete data", "/api/classes/current/forget", `Delete ${s.nickname}'s answers for good?`,
      `Delete ${s.nickname}'s answers`);
    [...tr.children].forEach((td, i) => { if (COLUMNS[i] && i > 1) td.dataset.label = COLUMNS[i]; });
    body.appendChild(tr);
  }
  $("students-empty").classList.toggle("hidden", students.size > 0);
  renderFigures();
}

// --- The feed: each answer marked right or wrong, in words as well as ✓ and ✗ -----------------------
const FEED_MAX = 200;  // the newest answers; the export has them all
const HOW = { handwriting: "written", speech: "spoken", typed: "typed", photo: "photo" };
function addFeedLine(correct, text, at) {
  const li = document.createElement("li");
  li.className = correct === true ? "right" : correct === false ? "wrong" : "said";
  const time = document.createElement("span"); time.className = "feed-time";
  time.textContent = (at ? new Date(at * 1000) : new Date()).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const mark = document.createElement("span"); mark.className = "mark";
  if (correct !== null) {
    const sign = document.createElement("span"); sign.setAttribute("aria-hidden", "true"); sign.textContent = correct ? "✓" : "✗";
    const words = document.createElement("span"); words.className = "visually-hidden"; words.textContent = correct ? "Right:" : "Wrong:";
    mark.append(sign, words);
  }
  const what = document.createElement("span"); what.className = "feed-text"; what.textContent = text;
  li.append(time, mark, what);
  const feed = $("feed");
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  $("feed-empty").classList.add("hidden");
}
function addFeed(a) {
  const how = HOW[a.mode] || a.mode;
  const time = a.response_ms != null && a.expected != null ? `, ${(a.response_ms / 1000).toFixed(1)} s` : "";
  if (a.correct === null) { addFeedLine(null, `${a.nickname}: ${a.question} → ${a.given}`, a.at); return; }
  if (a.expected === null) { addFeedLine(a.correct, `${a.nickname}: ${a.question}: ${a.given} (${how})`, a.at); return; }
  addFeedLine(a.correct, a.correct ? `${a.nickname}: ${a.question} = ${a.given} (${how}${time})`
    : `${a.nickname}: ${a.question} = ${a.given}, the answer is ${a.expected} (${how}${time})`, a.at);
}

// --- Details for IT: the models, accelerators and microphone as the hub reports them ----------------
function hubEvent(text) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  const list = $("hub-events");
  if (list.dataset.none !== undefined) { list.innerHTML = ""; delete list.dataset.none; }
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
}
const MODEL_COLUMNS = ["Model", "Status", "Runs on", "Queue", "p50 / p95", "Fallbacks"];  // for the phone layout
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
    [...tr.children].forEach((td, i) => { if (i) td.dataset.label = MODEL_COLUMNS[i]; });
    body.appendChild(tr);
  }
  const devices = (h.accelerators && h.accelerators.devices) || [];
  const mic = h.microphone || {};
  $("microphone").textContent = mic.available ? `Hub microphone: ${mic.detail}` : `Hub microphone: none (${mic.detail})`;
  $("accelerators").textContent = devices.length ? `Accelerators: ${devices.map((d) => `${d.device} (${d.kind}) ${d.state || ""}`).join(", ")}` : `No accelerator: models run on the CPU (${h.runtime}).`;
  const broken = h.models.filter((m) => m.status !== "ready" && m.status !== "loading").length;
  $("hub-health").textContent = !h.models.length ? "The hub has no models yet: ask IT (see Details for IT)."
    : broken ? `The hub is working; ${plural(broken, "part")} ${broken === 1 ? "needs" : "need"} IT (see Details for IT).`
    : "The hub is ready.";
}

async function control(method, path, body) {
  $("control-error").textContent = "";
  try { return await api(method, path, body); } catch (e) { $("control-error").textContent = e.message; }
}
$("start").addEventListener("click", async () => {
  const a = activities.find((x) => x.name === $("activity").value);
  if (a && a.unavailable) { $("control-error").textContent = whyNot(a); return; }
  const c = await control("POST", "/api/classes", { activity: $("activity").value }); if (c) renderClass(c); });
$("pause").addEventListener("click", async () => { const c = await control("POST", "/api/classes/current/pause"); if (c) renderClass({ ...c, students: [...students.values()] }); });
$("resume").addEventListener("click", async () => { const c = await control("POST", "/api/classes/current/resume"); if (c) renderClass({ ...c, students: [...students.values()] }); });
$("end").addEventListener("click", async () => {
  if (!confirm("End the class? Every tablet is released and its answers are deleted. Download the answers first if you want to keep them.")) return;
  await control("POST", "/api/classes/current/end");
});

api("GET", "/api/teacher/session").then((s) => { if (s.teacher) enter(); });

// --- Teach the hub: say what to teach, watch it learn, save it -------------------------------------
// The panel shows the project on the tablets (the snapshot's `teach`, then each `teach` event);
// it holds counts and who gave them, never a picture (the hub keeps none).
const teachState = { status: null, projects: [], saved: {}, taught: [], busy: false };
const TEACH = "teach-the-hub";
const teachPath = (name, rest = "") => `/api/teach/${encodeURIComponent(name)}${rest}`;

function showTeachPanel() {
  const wanted = running() && ($("activity").value === TEACH || classActivity === TEACH || !!teachState.status);
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
  if (!running()) { teachState.projects = []; renderOthers(); return; }
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
    b.append(srOnly(`: ${p.nickname}'s`));
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
