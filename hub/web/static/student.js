// The pupils' app: join, then whatever activity the teacher chose, drawn from what the hub says
// (the activity, its modes and the models behind them); no model name is written here.
// Pictures and recordings go to the hub over Socket.IO and are never stored anywhere.
// Every word a pupil sees is written here for a 6-to-11-year-old: the hub's own `error` text is for
// developers (the API and the logs) and is never shown; its `code` picks a line from WORDS.
"use strict";
const $ = (id) => document.getElementById(id);
const socket = io("/class", { transports: ["websocket"] });
const SCREENS = ["times-tables", "what-is-this", "move-like-me", "teach-the-hub"];  // the activities this page can draw
const MODES = ["handwriting", "speech", "typed"];
let activity = null;
let question = null;
let mode = "handwriting";
let spoken = "";
let paused = false;
let sending = false;
const BOXES = 3;
const READ_AFTER_MS = 350;  // a box is read this long after the pen lifts (a 4 or a 7 takes two strokes)

function ask(event, data) {
  return new Promise((resolve) => socket.timeout(15000).emit(event, data, (err, reply) => {
    resolve(err ? { error: "no acknowledgement within 15 s", code: "timeout" } : reply);
  }));
}

// --- the hub's error codes, in words for a 6-to-11-year-old: one table for the whole page ---------
// A code's line may depend on what the pupil was doing (`join`, `answer`, `write`, `speak`, `photo`, `teach`).
const WORDS = {
  no_class: "🕒 Your teacher has not started the class yet. Wait a moment, then try again.",
  class_full: "🙋 The class is full. Ask your teacher for help.",
  too_many_seats: "🙋 This tablet has joined with lots of names already. Ask your teacher for help.",
  nickname_taken: "🙂 Someone in the class has that name already. Add a letter or a number to yours.",
  removed: "👋 The teacher has taken you out of the class.",
  no_seat: "🔢 Join the class again: type the code and your name.",
  already_joined: "🙂 You are in the class already.",
  too_many_connections: "📱 This tablet has too many class pages open. Close the others, then try again.",
  paused: "👀 The class is paused. Look at your teacher.",
  too_fast: "🐢 Whoa, slow down! Wait a moment, then try again.",
  activity_changed: "✨ The class is doing something new. Look at your screen.",
  activity_unavailable: "🕒 The hub is not ready for this yet. Ask your teacher.",
  model_not_found: { default: "🕒 The hub is not ready to read that yet. Ask your teacher.",
    write: "🕒 The hub cannot read writing just now. Try the ⌨️ Type tab.",
    speak: "🕒 The hub cannot listen just now. Try the ⌨️ Type tab." },
  model_unavailable: { default: "🕒 The hub is getting ready. Wait a moment, then try again.",
    write: "🕒 The hub cannot read writing just now. Try again soon, or use the ⌨️ Type tab.",
    speak: "🕒 The hub cannot listen just now. Try again soon, or use the ⌨️ Type tab." },
  overloaded: "🐝 The hub is very busy. Wait a moment, then try again.",
  timeout: "📶 The hub did not answer. Check the Wi-Fi, then try again.",
  inference_failed: "😕 The hub got muddled. Try again.",
  internal_error: "😕 The hub got muddled. Try again.",
  no_backbone: "🕒 The hub is not ready to learn yet. Ask your teacher.",
  backbone_changed: "🔄 The hub has changed. Ask your teacher to start the learning again.",
  payload_too_large: { default: "📦 That was too big for the hub. Try again.",
    speak: "🎤 That was too long. Press the button and say just your answer." },
  unsupported_media_type: "📷 The hub could not open that. Try again.",
  not_seen: "🧍 The hub cannot see a whole person. Step back so all of you is in the photo.",
  frozen: "🧊 The teacher has stopped the learning. You can still ask what the hub thinks!",
  not_trained: "🤔 The hub needs examples of two different things before it can guess.",
  nothing_to_teach: "🕒 Wait for your teacher to say what to teach the hub.",
  limit_reached: { default: "🙌 The hub has lots of examples of that already. Show it the other things!",
    per_pupil: "🙌 You have given lots of examples. Thank you! Let someone else have a go." },
  bad_input: { default: "🤔 Something went wrong. Try again.",
    join: "🔢 That class code is not right. Look at the screen at the front and try again.",
    answer: "🤔 That answer did not work. Try again.",
    write: "✏️ I could not read that box. Rub it out and write your digit again.",
    speak: "🎤 I could not hear that. Press the button and try again.",
    photo: "📷 The hub could not use that photo. Take another one.",
    teach: "📷 The hub could not use that photo. Take another one." },
  default: "😕 Something went wrong. Try again.",
};

function words(reply, doing = "default") {  // reply: the hub's {error, code, ...}; never its `error` text
  const line = WORDS[reply.code] || WORDS.default;
  if (typeof line === "string") return line;
  return line[reply.limit] || line[doing] || line.default;
}

function oops(id, text) {  // a big notice next to what the pupil did (role=alert: read out at once)
  $(id).textContent = text || "";
}

// --- this pupil's own results, kept by the page for this class (a reload mid-lesson keeps them) ----
const RESULTS = "classroom-hub-results";
let results = { code: null, list: [] };
function loadResults(code) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(RESULTS) || "null");
    results = kept && kept.code === code ? kept : { code, list: [] };
  } catch (e) { results = { code, list: [] }; }
}
function keep(what, right) {  // right: true, false, or null (nothing to mark, e.g. a photo)
  results.list.push({ what, right });
  try { sessionStorage.setItem(RESULTS, JSON.stringify(results)); } catch (e) { /* private mode: kept in memory */ }
}

// --- join, and coming back: the seat's secret token is kept for that class only ------------------
const params = new URLSearchParams(location.search);
if (params.get("code")) $("code").value = params.get("code").toUpperCase();
$("nickname").value = localStorage.getItem("nickname") || "";
const SEAT = "classroom-hub-seat";
const NAME = /^[\p{L}\p{N}_][\p{L}\p{N}_ .'-]{0,19}$/u;  // the hub's rule for a nickname (hub/classroom/state.py)
let pending = null;  // an answer the hub has not acknowledged: sent again (same answer_id) once back

function savedSeat() {
  try {
    const seat = JSON.parse(localStorage.getItem(SEAT) || "null");
    const code = params.get("code");
    return seat && (!code || code.toUpperCase() === seat.code) ? seat : null;
  } catch (e) { return null; }
}

function seated(code, reply) {
  const first = $("play").classList.contains("hidden");
  localStorage.setItem("nickname", reply.nickname);
  localStorage.setItem(SEAT, JSON.stringify({ code, token: reply.token }));
  loadResults(code);
  $("me").textContent = "🙂 " + reply.nickname;
  $("join").classList.add("hidden");
  $("bye").classList.add("hidden");
  $("play").classList.remove("hidden");
  startActivity(reply.activity, reply.question);
  setPaused(reply.paused);
  if (first && !paused) $("activity-title").focus();  // a keyboard or screen reader starts at the activity
  if (pending) sendAnswer(pending);
}

async function join(e) {
  if (e) e.preventDefault();
  oops("join-error", "");
  const code = $("code").value.trim().toUpperCase();
  const nickname = $("nickname").value.trim();
  if (!code) { oops("join-error", "🔢 Type the class code. It is on the screen at the front."); $("code").focus(); return; }
  if (!NAME.test(nickname)) {
    oops("join-error", "🙂 Type your name: 1 to 20 letters or numbers.");
    $("nickname").focus();
    return;
  }
  $("join-button").disabled = true;
  const reply = await ask("join", { code, nickname });
  $("join-button").disabled = false;
  if (reply.error) {
    oops("join-error", words(reply, "join"));
    $(reply.code === "nickname_taken" ? "nickname" : reply.code === "bad_input" ? "code" : "join-button").focus();
    return;
  }
  seated(code, reply);
}
$("join-form").addEventListener("submit", join);

async function resume() {
  const seat = savedSeat();
  if (!seat) return;
  const reply = await ask("resume", { code: seat.code, token: seat.token });
  if (!reply.error) { seated(seat.code, reply); return; }
  if (reply.code === "timeout" || reply.code === "too_fast") return;  // tried again at the next connect
  localStorage.removeItem(SEAT);  // the class ended, or this seat is gone: join again
  pending = null;
  if (reply.code === "removed") { loadResults(seat.code); bye("removed"); }
  else { setPaused(false); $("play").classList.add("hidden"); $("join").classList.remove("hidden"); }
}

socket.on("connect", () => { $("offline").classList.add("hidden"); resume(); });
socket.on("disconnect", () => { if ($("bye").classList.contains("hidden")) $("offline").classList.remove("hidden"); });

// --- the activity, as the hub describes it ------------------------------------------------------
function startActivity(described, q) {
  const was = activity && activity.name;
  activity = described;
  $("activity-title").textContent = described.title;
  for (const name of SCREENS) $(name).classList.toggle("hidden", name !== described.name);
  oops("play-error", SCREENS.includes(described.name) ? "" : "🔄 This needs a newer page. Ask your teacher to help you reload it.");
  for (const prefix of ["photo", "pose", "teach"]) oops(prefix + "-error", "");  // the last activity's notices
  if (described.name === "times-tables") {
    const modes = described.modes.map((m) => m.mode).filter((m) => m !== "speech" || window.isSecureContext);
    if (!modes.includes("typed")) modes.push("typed");  // typing is always offered: no model needed
    for (const m of MODES) $("tab-" + m).classList.toggle("hidden", !modes.includes(m));
    // speaking needs the secure address (the browser gives no microphone on plain http): said once, no button
    $("speech-off").classList.toggle("hidden", window.isSecureContext || !described.modes.some((m) => m.mode === "speech"));
    // back after a Wi-Fi blip to the same question: the pupil's writing (or typing) stays as it was
    const again = was === "times-tables" && modes.includes(mode) && q && question && q.a === question.a && q.b === question.b;
    if (!again) {
      tab(modes.includes(mode) ? mode : modes[0]);
      if (q) show(q); else ask("next").then((r) => r.question && show(r.question));
    }
  } else if (described.name === "what-is-this") {
    const select = $("photo-model");
    select.innerHTML = "";
    for (const m of described.models) {
      const option = document.createElement("option");
      option.value = m.name; option.textContent = m.about ? `${m.title}: ${m.about}` : m.title;
      select.appendChild(option);
    }
    $("photo-model-row").classList.toggle("hidden", described.models.length < 2);  // nothing to choose
    $("photo-result").innerHTML = "";
    $("photo-verdict").textContent = "";
  } else if (described.name === "move-like-me") {
    startPoses(described);
  } else if (described.name === "teach-the-hub") {
    startTeach(described.project);
  }
  closeCameras();
}
socket.on("activity", (described) => startActivity(described, null));

const modelFor = (m) => (activity.modes.find((x) => x.mode === m) || {}).model;

function show(q) {
  question = q;
  $("question").textContent = `${q.a} × ${q.b} = ?`;
  $("level").textContent = `Level ${q.level}`;
  clearAnswer();
}

// --- Eyes on me: the teacher pauses the class; every control is out of reach until it resumes ------
const BEHIND = ["page", "offline"];  // with the header: everything the overlay covers
function setPaused(value) {
  const was = paused;
  paused = !!value;
  $("eyes").classList.toggle("hidden", !paused);
  for (const el of [document.querySelector("header"), ...BEHIND.map($)]) {
    el.inert = paused;
    if (paused) el.setAttribute("aria-hidden", "true"); else el.removeAttribute("aria-hidden");
  }
  if (paused && !was) { stopListening(); $("eyes").focus(); }
  if (!paused && was && !$("play").classList.contains("hidden")) $("activity-title").focus();
  refreshCheck();
  if (activity && activity.name === "teach-the-hub") drawTeach();  // no examples or tries while paused
}

socket.on("class_state", (s) => setPaused(s.state === "paused"));
socket.on("class_ended", () => bye("ended"));
socket.on("kicked", () => bye("removed"));
function bye(why) {
  localStorage.removeItem(SEAT);  // this seat is over: the end screen stays until the pupil joins again
  pending = null;
  setPaused(false);
  stopListening();
  closeCameras();
  $("play").classList.add("hidden");
  $("join").classList.add("hidden");
  $("offline").classList.add("hidden");
  $("bye").classList.remove("hidden");
  $("bye-text").textContent = why === "removed" ? "The teacher has taken you out of the class." : "The class has ended. Thank you!";
  const marked = results.list.filter((r) => r.right !== null);
  const right = marked.filter((r) => r.right).length;
  const cheer = !results.list.length ? "Thank you for joining in!"
    : !marked.length ? "Well done! 🌟"
    : right === marked.length ? "Amazing! Every one right! 🌟"
    : right * 2 >= marked.length ? "Well done! 👏 Keep practising." : "Good try! 💪 Keep practising.";
  $("bye-icon").textContent = why === "removed" ? "👋" : "🎉";
  $("bye-score").textContent = marked.length ? `You got ${right} out of ${marked.length} right. ${cheer}` : cheer;
  const list = $("bye-results");
  list.innerHTML = "";
  for (const r of results.list) {
    const li = document.createElement("li");
    li.className = r.right === true ? "ok" : r.right === false ? "bad" : "";
    li.textContent = (r.right === true ? "✓ " : r.right === false ? "✗ " : "• ") + r.what;
    list.appendChild(li);
  }
  $("bye-list-title").classList.toggle("hidden", !results.list.length);
  $("bye-text").focus();
}

// --- writing: one canvas per digit; each is read shortly after the pen lifts, and the pupil sees it --
// "I read: 4" under the box before it counts; Check sends exactly the digits shown. One read per box
// is in flight at a time; a stroke made meanwhile is read when it returns (the newest stroke wins).
const boxes = [];
for (let i = 0; i < BOXES; i++) {
  const wrap = document.createElement("div");
  wrap.className = "box";
  const c = document.createElement("canvas");
  c.className = "digit";
  c.width = 150; c.height = 190;
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", `Box ${i + 1}: write a digit here`);
  const reading = document.createElement("p");
  reading.className = "reading";
  reading.id = `reading-${i}`;
  reading.setAttribute("aria-live", "polite");
  const rub = document.createElement("button");
  rub.type = "button";
  rub.className = "secondary rub";
  rub.setAttribute("aria-label", `Rub out box ${i + 1}`);
  rub.innerHTML = '<span aria-hidden="true">🧽</span> Rub out';
  wrap.append(c, reading, rub);
  $("boxes").appendChild(wrap);
  const box = { i, canvas: c, reading, rub, state: "empty", digit: null, version: 0, timer: null, busy: false, again: false };
  boxes.push(box);
  const ctx = c.getContext("2d");
  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.lineWidth = 14; ctx.strokeStyle = "#111";
  let drawing = false;
  const at = (e) => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height]; };
  c.addEventListener("pointerdown", (e) => {
    if (paused) return;
    drawing = true; c.setPointerCapture(e.pointerId);
    const [x, y] = at(e); ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 0.1, y + 0.1); ctx.stroke();
    clearTimeout(box.timer);
    box.version++; box.digit = null; setBox(box, "waiting");
  });
  c.addEventListener("pointermove", (e) => { if (!drawing) return; const [x, y] = at(e); ctx.lineTo(x, y); ctx.stroke(); });
  const lift = () => {
    if (!drawing) return;
    drawing = false;
    clearTimeout(box.timer);
    box.timer = setTimeout(() => readBox(box), READ_AFTER_MS);
  };
  c.addEventListener("pointerup", lift);
  c.addEventListener("pointercancel", lift);
  rub.addEventListener("click", () => {
    rubOut(box);
    if (!boxes.some((b) => b.state === "failed")) oops("answer-error", "");
  });
}

function setBox(box, state, digit = null) {
  box.state = state;
  box.digit = digit;
  const text = { empty: "", waiting: "…", reading: "Reading…", read: `I read: ${digit}`, failed: "❓ Write it again" }[state];
  box.reading.textContent = text;
  box.reading.className = "reading is-" + state;
  box.canvas.setAttribute("aria-label", state === "read" ? `Box ${box.i + 1}: I read ${digit}` : `Box ${box.i + 1}: write a digit here`);
  refreshCheck();
}

function rubOut(box) {
  clearTimeout(box.timer);
  box.version++;  // a read in flight for this box is now out of date
  const ctx = box.canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, box.canvas.width, box.canvas.height);
  setBox(box, "empty");
}

const png = (c) => new Promise((resolve) => c.toBlob((b) => b.arrayBuffer().then(resolve), "image/png"));

async function readBox(box) {
  if (box.state === "empty") return;
  if (box.busy) { box.again = true; setBox(box, "reading"); return; }  // read again when the one in flight returns
  box.busy = true;
  const version = box.version;
  setBox(box, "reading");
  const reply = await ask("classify", { model: modelFor("handwriting"), image: await png(box.canvas), top_k: 1 });
  box.busy = false;
  if (version !== box.version) {  // drawn on (or rubbed out) meanwhile: that newer ink is what counts
    if (box.again && box.state !== "empty") { box.again = false; readBox(box); }
    return;
  }
  box.again = false;
  if (reply.error || !reply.predictions || !reply.predictions.length) {
    setBox(box, "failed");
    oops("answer-error", reply.error ? words(reply, "write") : WORDS.bad_input.write);
    return;
  }
  setBox(box, "read", reply.predictions[0].label);
  if (!boxes.some((b) => b.state === "failed")) oops("answer-error", "");
}

const reading = () => boxes.some((b) => b.state === "waiting" || b.state === "reading");
function refreshCheck() {  // Check waits for every box to be read, and for the class to go on
  $("check").disabled = paused || sending || (mode === "handwriting" && reading());
}

function clearAnswer() {
  for (const box of boxes) rubOut(box);
  spoken = "";
  $("said").textContent = "";
  $("typed").value = "";
  $("feedback").textContent = "";
  $("feedback").className = "feedback";
  oops("answer-error", "");
  refreshCheck();
}
$("clear").addEventListener("click", clearAnswer);

async function check() {
  if ($("check").disabled) return;
  oops("answer-error", "");
  let given;
  if (mode === "speech") given = spoken;
  else if (mode === "typed") given = $("typed").value.trim();
  else {
    if (boxes.some((b) => b.state === "failed")) { oops("answer-error", WORDS.bad_input.write); return; }
    given = boxes.filter((b) => b.state === "read").map((b) => b.digit).join("");  // exactly what is shown
  }
  if (mode === "typed" && given && !/^\d+$/.test(given)) { oops("answer-error", "🔢 Type your answer with numbers only."); $("typed").focus(); return; }
  if (!given) {
    oops("answer-error", mode === "speech" ? "🎤 Say your answer first." : mode === "typed" ? "⌨️ Type your answer first." : "✏️ Write your answer first.");
    return;
  }
  sending = true;
  refreshCheck();
  try {
    await sendAnswer({ a: question.a, b: question.b, given, mode, answer_id: answerId() });
  } finally {
    sending = false;
    refreshCheck();
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
  const saved = "📶 Saved: it goes to the hub when the hub is back.";
  if (!socket.connected) { $("feedback").textContent = saved; return; }
  const reply = await ask("answer", payload);
  if (reply.code === "timeout") { $("feedback").textContent = saved; return; }
  pending = null;
  if (reply.error) { oops("answer-error", words(reply, "answer")); return; }
  const sum = `${payload.a} × ${payload.b} = ${reply.expected}`;
  $("feedback").innerHTML = "";
  const icon = document.createElement("span");
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = reply.correct ? "✓ " : "✗ ";
  $("feedback").append(icon, reply.correct ? `${sum}. Well done!` : `Not quite: ${sum}`);
  $("feedback").className = "feedback " + (reply.correct ? "ok" : "bad");
  keep(reply.correct ? sum : `${sum} (your answer: ${reply.given})`, !!reply.correct);
  setTimeout(() => show(reply.question), reply.correct ? 1500 : 3000);
}
$("typed").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); check(); } });

// --- speaking: a whole answer in one go ("four two"), after a 3-2-1, with a level meter -------------
// 16-bit PCM at the device's rate, up to LISTEN_MS, ending early once the pupil has spoken and stopped.
// The hub splits it into digits (`split: true`: one segment per digit heard, in order).
const LISTEN_MS = 3000, QUIET_MS = 700, LOUD = 0.04;
let listening = null;  // {stop()} while the microphone is open

function stopListening() { if (listening) listening.stop(); }
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

async function countdown() {
  let cancelled = false;
  listening = { stop: () => { cancelled = true; } };
  for (const n of ["3", "2", "1"]) {
    $("countdown").textContent = n;
    await wait(600);
    if (cancelled || paused) { listening = null; throw new Error("paused"); }
  }
  $("countdown").textContent = "🗣 Speak now!";
}

async function record() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
  const ctx = new AudioContext();
  try {
    await countdown();
  } catch (e) { stream.getTracks().forEach((t) => t.stop()); await ctx.close(); throw e; }
  const source = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  const node = ctx.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  let spokeAt = 0, quietSince = 0;
  const started = performance.now();
  node.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(analyser); source.connect(node); node.connect(ctx.destination);
  const level = new Float32Array(analyser.fftSize);
  $("meter").classList.remove("hidden");
  await new Promise((done) => {
    let timer = null;
    const finish = () => { clearInterval(timer); listening = null; done(); };
    listening = { stop: finish };
    timer = setInterval(() => {
      analyser.getFloatTimeDomainData(level);
      const rms = Math.sqrt(level.reduce((s, v) => s + v * v, 0) / level.length);
      $("meter-bar").style.width = `${Math.min(100, Math.round(rms * 400))}%`;
      const now = performance.now();
      if (rms > LOUD) { spokeAt = spokeAt || now; quietSince = 0; } else if (spokeAt && !quietSince) quietSince = now;
      if (now - started >= LISTEN_MS || (spokeAt && quietSince && now - quietSince >= QUIET_MS)) finish();
    }, 50);
  });
  $("meter").classList.add("hidden");
  $("meter-bar").style.width = "0%";
  source.disconnect(); node.disconnect(); stream.getTracks().forEach((t) => t.stop());
  const rate = ctx.sampleRate; await ctx.close();
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const pcm = new Int16Array(n);
  let i = 0;
  for (const c of chunks) for (const v of c) pcm[i++] = Math.max(-1, Math.min(1, v)) * 32767;
  return { audio: pcm.buffer, sample_rate: rate };
}

function heardDigits(reply) {  // {segments: [{predictions: [{label}]}]}; an older hub: one digit in predictions
  if (Array.isArray(reply.segments)) return reply.segments.map((s) => (s.predictions && s.predictions[0] || {}).label || "").join("");
  return reply.predictions && reply.predictions.length ? reply.predictions[0].label : "";
}

$("say-button").addEventListener("click", async () => {
  if (listening || paused) return;
  oops("answer-error", "");
  spoken = "";
  $("said").textContent = "";
  $("say-button").disabled = true;
  refreshCheck();
  try {
    $("say-button").lastChild.textContent = " Listening…";
    const sound = await record();
    $("countdown").textContent = "Listening to it…";
    const reply = await ask("classify", { model: modelFor("speech"), ...sound, top_k: 1, split: true });
    if (reply.error) { oops("answer-error", words(reply, "speak")); return; }
    spoken = heardDigits(reply).replace(/\D/g, "");
    $("said").textContent = spoken ? `I heard: ${spoken}` : "";
    if (!spoken) oops("answer-error", "🎤 I did not hear a number. Press the button and try again.");
  } catch (e) {
    if (e.message !== "paused") oops("answer-error", "🎤 The microphone did not start. Try again, or use the ⌨️ Type tab.");
  } finally {
    $("countdown").textContent = "";
    $("meter").classList.add("hidden");
    $("say-button").disabled = false;
    $("say-button").lastChild.textContent = " Say my answer";
    refreshCheck();
  }
});

// --- how to answer: a real tablist (arrow keys, Home and End move between the tabs shown) ----------
function tab(name, focus = false) {
  mode = name;
  for (const m of MODES) {
    const on = m === name;
    $("tab-" + m).setAttribute("aria-selected", String(on));
    $("tab-" + m).tabIndex = on ? 0 : -1;
    $("tab-" + m).classList.toggle("active", on);
    $(m + "-mode").classList.toggle("hidden", !on);
  }
  if (focus) $("tab-" + name).focus();
  stopListening();
  clearAnswer();
}
for (const m of MODES) $("tab-" + m).addEventListener("click", (e) => {
  tab(m);
  if (m === "typed" && e.detail > 0) $("typed").focus();  // tapped: straight to the keyboard (not when chosen by a key)
});
$("tabs").addEventListener("keydown", (e) => {
  const shown = MODES.filter((m) => !$("tab-" + m).classList.contains("hidden"));
  const at = shown.indexOf(mode);
  const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: shown.length - 1 }[e.key];
  if (to === undefined) return;
  e.preventDefault();
  tab(shown[(to + shown.length) % shown.length], true);
});

// --- photos: from the camera or the photo library (any address), or live (the secure address) -----
const LONGEST = 448;  // twice the hub's models' 192-224 px: enough for them, quicker over the Wi-Fi and to decode
async function shrink(source) {  // a File or the live video -> {bitmap, jpeg ArrayBuffer}; nothing is stored
  // the video's frame is drawn as it is (createImageBitmap of a video fails on some tablets)
  const picture = source instanceof HTMLVideoElement ? source : await createImageBitmap(source);
  const width = picture.videoWidth || picture.width, height = picture.videoHeight || picture.height;
  const scale = Math.min(1, LONGEST / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(width * scale); canvas.height = Math.round(height * scale);
  canvas.getContext("2d").drawImage(picture, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  return { bitmap: canvas, jpeg: await blob.arrayBuffer(), blob };
}

const cameras = {};  // prefix -> its MediaStream while open
function closeCameras() {
  for (const prefix of Object.keys(cameras)) {
    cameras[prefix].getTracks().forEach((t) => t.stop());
    delete cameras[prefix];
    $(prefix + "-camera").classList.add("hidden");
  }
}
function cameraControls(prefix, onPhoto) {
  const live = !!(navigator.mediaDevices && window.isSecureContext);  // plain http: the file input's camera only
  $(prefix + "-live").classList.toggle("hidden", !live);
  // "-file" opens the camera where the tablet has one (capture); "-library" the photos already taken
  for (const input of [$(prefix + "-file"), $(prefix + "-library")]) {
    input.addEventListener("change", async () => {
      const file = input.files[0];
      input.value = "";
      if (!file) return;
      let photo;
      try { photo = await shrink(file); } catch (e) {  // a file the browser cannot open as a picture
        oops(prefix + "-error", "📷 That photo could not be opened. Take another one.");
        return;
      }
      oops(prefix + "-error", "");
      onPhoto(photo);
    });
  }
  $(prefix + "-live").addEventListener("click", async () => {
    try {
      cameras[prefix] = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      $(prefix + "-video").srcObject = cameras[prefix];
      $(prefix + "-camera").classList.remove("hidden");
    } catch (e) { oops(prefix + "-error", "📷 The camera did not start. Use the photo button instead."); }
  });
  $(prefix + "-snap").addEventListener("click", async () => {
    const video = $(prefix + "-video");
    if (!video.videoWidth) return;  // the camera has not shown a frame yet
    let photo;
    try { photo = await shrink(video); } catch (e) {
      oops(prefix + "-error", "📷 The camera did not give a picture. Try again, or use the photo button.");
      return;
    }
    oops(prefix + "-error", "");
    onPhoto(photo);
  });
  $(prefix + "-stop").addEventListener("click", closeCameras);
}

// --- what is this? -------------------------------------------------------------------------------
let preview = null;
cameraControls("photo", async (photo) => {
  if (preview) URL.revokeObjectURL(preview);
  preview = URL.createObjectURL(photo.blob);  // only in this page's memory
  $("photo-preview").src = preview;
  $("photo-preview").classList.remove("hidden");
  const list = $("photo-result");
  list.innerHTML = "";
  $("photo-verdict").className = "feedback";
  $("photo-verdict").textContent = "Looking…";
  const reply = await ask("answer", { model: $("photo-model").value, image: photo.jpeg });
  if (reply.error) { $("photo-verdict").textContent = ""; oops("photo-error", words(reply, "photo")); return; }
  oops("photo-error", "");
  const [best] = reply.result.predictions;
  $("photo-verdict").textContent = !best ? "I don't know this one." : reply.result.sure ? `I think it is: ${best.name}` : "I'm not sure. Maybe…";
  keep(best && reply.result.sure ? `A photo: the hub thought ${best.name}` : "A photo: the hub was not sure", null);
  for (const p of reply.result.predictions) {
    const li = document.createElement("li");
    li.textContent = `${p.name} (${Math.round(p.score * 100)}%)`;
    list.appendChild(li);
  }
});

// --- move like me ------------------------------------------------------------------------------
let poses = { list: [], bones: [], lead: null };
function startPoses(described) {
  poses = { list: described.poses, bones: described.skeleton, lead: described.lead || null };
  const select = $("pose-choice");
  const chosen = poses.lead ? poses.lead.pose : select.value;
  select.innerHTML = "";
  for (const p of poses.list) {
    const option = document.createElement("option");
    option.value = p.name; option.textContent = p.title;
    select.appendChild(option);
  }
  if (chosen && poses.list.some((p) => p.name === chosen)) select.value = chosen;
  $("pose-lead").textContent = poses.lead ? `Everyone: ${poses.lead.title}!` : "";
  $("pose-lead").classList.toggle("hidden", !poses.lead);
  showPose();
}
function showPose() {
  const pose = poses.list.find((p) => p.name === $("pose-choice").value);
  if (!pose) return;
  const points = Object.fromEntries(pose.figure.map((p) => [p.name, [p.x, p.y]]));
  Figure.draw($("pose-figure"), points, poses.bones, { width: 6 });
  $("pose-figure").setAttribute("aria-label", `The pose to copy: ${pose.title}`);
  $("pose-how").textContent = pose.how;
  $("pose-verdict").textContent = "";
  $("pose-advice").innerHTML = "";
  $("pose-photo").classList.add("hidden");
}
$("pose-choice").addEventListener("change", showPose);
cameraControls("pose", async (photo) => {
  $("pose-verdict").className = "feedback";
  $("pose-verdict").textContent = "Looking…";
  $("pose-advice").innerHTML = "";
  const pose = $("pose-choice").value;
  const reply = await ask("answer", { pose, image: photo.jpeg });
  if (reply.error) { $("pose-verdict").textContent = ""; oops("pose-error", words(reply, "photo")); return; }
  oops("pose-error", "");
  const canvas = $("pose-photo");
  Figure.photo(canvas, photo.bitmap);
  Figure.draw(canvas, reply.result.keypoints, poses.bones, { clear: false, color: "#ffcc00", width: 5 });
  canvas.classList.remove("hidden");
  const verdict = reply.result.verdict;
  const title = (poses.list.find((p) => p.name === pose) || {}).title || pose;
  $("pose-verdict").textContent = verdict.matched ? `✓ Well done: ${title}!` : "Nearly! Try this:";
  $("pose-verdict").className = "feedback " + (verdict.matched ? "ok" : "bad");
  keep(`${title} pose`, !!verdict.matched);
  for (const advice of verdict.advice) {
    const li = document.createElement("li");
    li.textContent = advice;
    $("pose-advice").appendChild(li);
  }
  $("pose-managed").textContent = reply.managed && reply.managed.length ? `You have done: ${reply.managed.join(", ")}` : "";
});

// --- teach the hub: the class shows the hub examples of new things, then asks what it thinks -------
// The photo stays in this page's memory until it is given (or another is taken); the hub keeps
// only its numbers. Counts come live from the hub's `teach` event: the whole class's, not this tablet's.
const teach = { project: null, photo: null, preview: null, busy: false, built: "" };
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const inWords = (list, last = "or") => list.length < 2 ? list.join("") : `${list.slice(0, -1).join(", ")} ${last} ${list[list.length - 1]}`;
const withA = (thing) => (/^[aeiou]/i.test(thing) ? "an " : "a ") + thing;
const isPoses = () => !!teach.project && teach.project.kind === "poses";
const thisIs = (thing) => isPoses() ? `This is the ${thing} pose` : `This is ${withA(thing)}`;

function startTeach(project) {
  const other = !project || !teach.project || project.name !== teach.project.name;
  teach.project = project || null;
  if (other) { dropTeachPhoto(); clearGuess(); say(""); }
  drawTeach();
}
socket.on("teach", (m) => {
  if (!activity || activity.name !== "teach-the-hub") return;  // sent in this activity: one that just changed
  activity.project = m.project;
  startTeach(m.project);
});

function say(text, kind = "") {
  $("teach-said").textContent = text;
  $("teach-said").className = "feedback" + (kind ? " " + kind : "");
}
function clearGuess() {
  $("teach-guess").textContent = "";
  $("teach-sure").textContent = "";
  $("teach-others").innerHTML = "";
  $("teach-others-title").classList.add("hidden");
  $("teach-next").textContent = "";
}
function dropTeachPhoto() {
  if (teach.preview) URL.revokeObjectURL(teach.preview);
  teach.photo = teach.preview = null;
  $("teach-preview").removeAttribute("src");
  $("teach-preview").classList.add("hidden");
}

function drawTeach() {
  const p = teach.project;
  $("teach-wait").classList.toggle("hidden", !!p);
  $("teach-project").classList.toggle("hidden", !p);
  if (!p) return;
  const poses = p.kind === "poses";
  const name = p.name.replace(/-/g, " ");
  $("teach-title").textContent = name.charAt(0).toUpperCase() + name.slice(1);
  $("teach-how").textContent = poses
    ? `Do one of these poses: ${inWords(p.labels)}. Your partner takes a photo of you. Then tap which pose it is, to teach the hub.`
    : `Take a photo of ${inWords(p.labels.map(withA))}. Then tap what it is, to teach the hub.`;
  $("teach-ask").textContent = poses ? "Which pose is in your photo?" : "What is in your photo?";
  $("teach-frozen").classList.toggle("hidden", !p.frozen);
  const built = p.name + "\n" + p.kind + "\n" + p.labels.join("\n");
  const things = $("teach-things");
  if (teach.built !== built) {  // rebuilt only when the things change, so a focused button keeps its focus
    teach.built = built;
    things.innerHTML = "";
    p.labels.forEach((label) => {
      const b = document.createElement("button");
      b.className = "thing";
      b.dataset.label = label;
      const what = document.createElement("span"); what.className = "thing-name"; what.textContent = thisIs(label);
      const count = document.createElement("span"); count.className = "thing-count";
      b.append(what, count);
      b.addEventListener("click", () => giveExample(label));
      things.appendChild(b);
    });
  }
  const canGive = !!teach.photo && !p.frozen && !teach.busy && !paused;
  things.querySelectorAll("button.thing").forEach((b, i) => {
    b.querySelector(".thing-count").textContent = `${p.labels[i]}: ${plural(p.counts[i] || 0, "example")}`;
    b.disabled = !canGive;
  });
  $("teach-hint").textContent = p.frozen ? "" : teach.photo ? "Tap the right one." : "Take a photo first. Then tap what it shows.";
  const why = !p.ready ? "The hub can guess once it has examples of two different things."
    : !teach.photo ? "Take a photo first. Then ask the hub." : "";
  $("teach-try").disabled = !!why || teach.busy || paused;
  $("teach-try-why").textContent = why;
}

function teachWords(reply) {  // the hub's error, through WORDS; one sent text is matched, never shown
  if (reply.code === "bad_input" && /choose one of the things/i.test(reply.error || "")) {
    return "📋 That is not on the list any more. Look at the buttons again!";
  }
  return words(reply, "teach");
}

async function giveExample(label) {
  if (!teach.photo || teach.busy) return;
  teach.busy = true;
  say("Sending…");
  drawTeach();
  const reply = await ask("answer", { label, image: teach.photo.jpeg });
  teach.busy = false;
  if (reply.error) { say(teachWords(reply), "bad"); drawTeach(); return; }
  oops("teach-error", "");
  const p = teach.project, i = p ? p.labels.indexOf(reply.result.label) : -1;
  if (i >= 0) p.counts[i] = Math.max(p.counts[i] || 0, reply.result.count);  // the `teach` event follows
  say(`Thank you! The hub has ${plural(reply.result.count, "example")} of ${reply.result.label} now.`, "ok");
  keep(`You taught the hub: ${reply.result.label}`, null);
  dropTeachPhoto();  // one photo, one example: the next one is a new photo
  clearGuess();
  drawTeach();
}
$("teach-try").addEventListener("click", async () => {
  if (!teach.photo || teach.busy) return;
  teach.busy = true;
  say("");
  clearGuess();
  $("teach-guess").textContent = "Thinking…";
  drawTeach();
  const reply = await ask("answer", { try: true, image: teach.photo.jpeg });
  teach.busy = false;
  clearGuess();
  if (reply.error) { say(teachWords(reply), "bad"); drawTeach(); return; }
  oops("teach-error", "");
  const [best, ...others] = reply.result.predictions;
  const percent = (p) => `${Math.round(p.score * 100)}%`;
  $("teach-guess").textContent = reply.result.sure ? `The hub thinks: ${best.name}` : `I'm not sure… maybe ${best.name}?`;
  $("teach-sure").textContent = reply.result.sure ? `It is ${percent(best)} sure.` : `It is only ${percent(best)} sure.`;
  for (const p of others) {
    const li = document.createElement("li");
    li.textContent = `${p.name} (${percent(p)})`;
    $("teach-others").appendChild(li);
  }
  $("teach-others-title").classList.toggle("hidden", !others.length);
  if (teach.project && !teach.project.frozen) $("teach-next").textContent = "Was it right? If not, tap what it really is, to teach it.";
  drawTeach();
});
cameraControls("teach", (photo) => {
  dropTeachPhoto();
  teach.photo = photo;
  teach.preview = URL.createObjectURL(photo.blob);  // only in this page's memory
  $("teach-preview").src = teach.preview;
  $("teach-preview").classList.remove("hidden");
  say("");
  clearGuess();
  drawTeach();
});
