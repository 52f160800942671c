// The pupils' app: join, then whatever activity the teacher chose, drawn from what the hub says
// (the activity, its modes and the models behind them); no model name is written here.
// Pictures and recordings go to the hub over Socket.IO and are never stored anywhere.
"use strict";
const $ = (id) => document.getElementById(id);
const socket = io("/class", { transports: ["websocket", "polling"] });
const SCREENS = ["times-tables", "what-is-this"];  // the activities this page can draw
let activity = null;
let question = null;
let mode = "handwriting";
let spoken = "";
let paused = false;
const BOXES = 3;

function ask(event, data) {
  return new Promise((resolve) => socket.timeout(15000).emit(event, data, (err, reply) => {
    resolve(err ? { error: "the hub did not answer; check the Wi-Fi", code: "timeout" } : reply);
  }));
}

// --- join, and coming back: the seat's secret token is kept for that class only ------------------
const params = new URLSearchParams(location.search);
if (params.get("code")) $("code").value = params.get("code").toUpperCase();
$("nickname").value = localStorage.getItem("nickname") || "";
const SEAT = "classroom-hub-seat";
let pending = null;  // an answer the hub has not acknowledged: sent again (same answer_id) once back

function savedSeat() {
  try {
    const seat = JSON.parse(localStorage.getItem(SEAT) || "null");
    const code = params.get("code");
    return seat && (!code || code.toUpperCase() === seat.code) ? seat : null;
  } catch (e) { return null; }
}

function seated(code, reply) {
  localStorage.setItem("nickname", reply.nickname);
  localStorage.setItem(SEAT, JSON.stringify({ code, token: reply.token }));
  $("me").textContent = reply.nickname;
  $("join").classList.add("hidden");
  $("play").classList.remove("hidden");
  setPaused(reply.paused);
  startActivity(reply.activity, reply.question);
  if (pending) sendAnswer(pending);
}

async function join() {
  $("join-error").textContent = "";
  const code = $("code").value.trim().toUpperCase();
  const reply = await ask("join", { code, nickname: $("nickname").value.trim() });
  if (reply.error) { $("join-error").textContent = reply.error; return; }
  seated(code, reply);
}
$("join-button").addEventListener("click", join);
$("nickname").addEventListener("keydown", (e) => { if (e.key === "Enter") join(); });

async function resume() {
  const seat = savedSeat();
  if (!seat) return;
  const reply = await ask("resume", { code: seat.code, token: seat.token });
  if (!reply.error) { seated(seat.code, reply); return; }
  if (reply.code === "timeout" || reply.code === "too_fast") return;  // tried again at the next connect
  localStorage.removeItem(SEAT);  // the class ended, or this seat is gone: join again
  pending = null;
  if (reply.code === "removed") bye("The teacher has taken you out of the class.");
  else { $("play").classList.add("hidden"); $("join").classList.remove("hidden"); }
}

socket.on("connect", () => { $("offline").classList.add("hidden"); resume(); });
socket.on("disconnect", () => { $("offline").classList.remove("hidden"); });

// --- the activity, as the hub describes it ------------------------------------------------------
function startActivity(described, q) {
  activity = described;
  $("activity-title").textContent = described.title;
  for (const name of SCREENS) $(name).classList.toggle("hidden", name !== described.name);
  $("play-error").textContent = SCREENS.includes(described.name) ? "" : "This activity needs a newer page: reload it.";
  if (described.name === "times-tables") {
    const modes = described.modes.map((m) => m.mode);
    for (const m of ["handwriting", "speech", "typed"]) $("tab-" + m).classList.toggle("hidden", !modes.includes(m));
    tab(modes.includes(mode) ? mode : modes[0]);
    if (q) show(q); else ask("next").then((r) => r.question && show(r.question));
  } else if (described.name === "what-is-this") {
    const select = $("photo-model");
    select.innerHTML = "";
    for (const name of described.models) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      select.appendChild(option);
    }
    $("photo-result").innerHTML = "";
  }
}
socket.on("activity", (described) => startActivity(described, null));

const modelFor = (m) => (activity.modes.find((x) => x.mode === m) || {}).model;

function show(q) {
  question = q;
  $("question").textContent = `${q.a} × ${q.b} = ?`;
  $("level").textContent = `Level ${q.level}`;
  clearAnswer();
}

function setPaused(value) {
  paused = value;
  $("check").disabled = paused;
  $("play-error").textContent = paused ? "The teacher has paused the class." : "";
}

socket.on("class_state", (s) => setPaused(s.state === "paused"));
socket.on("class_ended", (m) => bye(m.message));
socket.on("kicked", (m) => bye(m.message));
function bye(text) {
  $("play").classList.add("hidden");
  $("join").classList.add("hidden");
  $("bye").classList.remove("hidden");
  $("bye-text").textContent = text;
}

// --- writing: one canvas per digit --------------------------------------------------------------
const canvases = [];
for (let i = 0; i < BOXES; i++) {
  const c = document.createElement("canvas");
  c.className = "digit";
  c.width = 150; c.height = 190;
  c.dataset.empty = "1";
  $("boxes").appendChild(c);
  canvases.push(c);
  const ctx = c.getContext("2d");
  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.lineWidth = 14; ctx.strokeStyle = "#111";
  let drawing = false;
  const at = (e) => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height]; };
  c.addEventListener("pointerdown", (e) => { drawing = true; c.setPointerCapture(e.pointerId); const [x, y] = at(e); ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 0.1, y + 0.1); ctx.stroke(); c.dataset.empty = "0"; });
  c.addEventListener("pointermove", (e) => { if (!drawing) return; const [x, y] = at(e); ctx.lineTo(x, y); ctx.stroke(); });
  c.addEventListener("pointerup", () => { drawing = false; });
  c.addEventListener("pointercancel", () => { drawing = false; });
}

function clearAnswer() {
  for (const c of canvases) {
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    c.dataset.empty = "1";
  }
  spoken = "";
  $("said").textContent = "";
  $("typed").value = "";
  $("feedback").textContent = "";
  $("feedback").className = "feedback";
}
$("clear").addEventListener("click", clearAnswer);

const png = (c) => new Promise((resolve) => c.toBlob((b) => b.arrayBuffer().then(resolve), "image/png"));

async function readHandwriting() {
  let digits = "";
  for (const c of canvases) {
    if (c.dataset.empty === "1") continue;
    const reply = await ask("classify", { model: modelFor("handwriting"), image: await png(c), top_k: 1 });
    if (reply.error) throw new Error(reply.error);
    digits += reply.predictions[0].label;
  }
  return digits;
}

async function check() {
  $("check").disabled = true;
  try {
    const given = mode === "speech" ? spoken : mode === "typed" ? $("typed").value.trim() : await readHandwriting();
    if (!given) { $("feedback").textContent = mode === "speech" ? "Say your answer first" : "Write your answer first"; return; }
    await sendAnswer({ a: question.a, b: question.b, given, mode, answer_id: answerId() });
  } catch (e) {
    $("play-error").textContent = e.message;
  } finally {
    $("check").disabled = paused;
  }
}
$("check").addEventListener("click", check);

function answerId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);  // works on the plain http address too (randomUUID does not)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sendAnswer(payload) {
  pending = payload;
  if (!socket.connected) { $("feedback").textContent = "Saved: it goes to the hub when it is back"; return; }
  const reply = await ask("answer", payload);
  if (reply.code === "timeout") { $("feedback").textContent = "Saved: it goes to the hub when it is back"; return; }
  pending = null;
  if (reply.error) { $("play-error").textContent = reply.error; return; }
  $("feedback").textContent = reply.correct ? `✓ ${reply.given} is right!` : `✗ you wrote ${reply.given}; it is ${reply.expected}`;
  $("feedback").className = "feedback " + (reply.correct ? "ok" : "bad");
  setTimeout(() => show(reply.question), reply.correct ? 1200 : 2500);
}
$("typed").addEventListener("keydown", (e) => { if (e.key === "Enter") check(); });

// --- speaking: 16-bit PCM at the device's rate, one digit per press -------------------------------
async function recordDigit(seconds = 1.5) {
  if (!navigator.mediaDevices || !window.isSecureContext) {
    throw new Error("Speaking needs the hub's secure address (https://…); ask your teacher.");
  }
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(stream);
  const node = ctx.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  node.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(node); node.connect(ctx.destination);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  source.disconnect(); node.disconnect(); stream.getTracks().forEach((t) => t.stop());
  const rate = ctx.sampleRate; await ctx.close();
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const pcm = new Int16Array(n);
  let i = 0;
  for (const c of chunks) for (const v of c) pcm[i++] = Math.max(-1, Math.min(1, v)) * 32767;
  return { audio: pcm.buffer, sample_rate: rate };
}

$("say-button").addEventListener("click", async () => {
  $("mic-error").textContent = "";
  $("say-button").disabled = true;
  $("say-button").textContent = "Listening…";
  try {
    const sound = await recordDigit();
    const reply = await ask("classify", { model: modelFor("speech"), ...sound, top_k: 1 });
    if (reply.error) throw new Error(reply.error);
    spoken += reply.predictions[0].label;
    $("said").textContent = spoken;
  } catch (e) {
    $("mic-error").textContent = e.message;
  } finally {
    $("say-button").disabled = false;
    $("say-button").textContent = "Say a digit";
  }
});

// --- how to answer: the modes the activity offers ------------------------------------------------
function tab(name) {
  mode = name;
  for (const m of ["handwriting", "speech", "typed"]) {
    $("tab-" + m).classList.toggle("active", m === name);
    $("tab-" + m).setAttribute("aria-selected", String(m === name));
    $(m + "-mode").classList.toggle("hidden", m !== name);
  }
  clearAnswer();
}
for (const m of ["handwriting", "speech", "typed"]) $("tab-" + m).addEventListener("click", () => tab(m));

// --- what is this? -------------------------------------------------------------------------------
$("photo-file").addEventListener("change", async () => {
  const file = $("photo-file").files[0];
  if (!file) return;
  const list = $("photo-result");
  list.innerHTML = "<li>…</li>";
  const reply = await ask("answer", { model: $("photo-model").value, image: await file.arrayBuffer() });
  list.innerHTML = "";
  if (reply.error) { $("play-error").textContent = reply.error; return; }
  $("play-error").textContent = "";
  for (const p of reply.result.predictions) {
    const li = document.createElement("li");
    li.textContent = `${p.name || p.label} (${Math.round(p.score * 100)}%)`;
    list.appendChild(li);
  }
});
