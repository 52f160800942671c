// The pupils' app: join, then whatever activity the teacher chose, drawn from what the hub says
// (the activity, its modes and the models behind them); no model name is written here.
// Pictures and recordings go to the hub over Socket.IO and are never stored anywhere.
"use strict";
const $ = (id) => document.getElementById(id);
const socket = io("/class", { transports: ["websocket", "polling"] });
const SCREENS = ["times-tables", "what-is-this", "move-like-me"];  // the activities this page can draw
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

// --- photos: from the camera or the photo library (any address), or live (the secure address) -----
const LONGEST = 640;  // the hub's models take 192-224 px: a smaller photo is faster over the Wi-Fi
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
        $("play-error").textContent = "That photo could not be opened. Take another one.";
        return;
      }
      onPhoto(photo);
    });
  }
  $(prefix + "-live").addEventListener("click", async () => {
    try {
      cameras[prefix] = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      $(prefix + "-video").srcObject = cameras[prefix];
      $(prefix + "-camera").classList.remove("hidden");
    } catch (e) { $("play-error").textContent = "The camera did not start: use the photo button instead."; }
  });
  $(prefix + "-snap").addEventListener("click", async () => {
    const video = $(prefix + "-video");
    if (!video.videoWidth) return;  // the camera has not shown a frame yet
    let photo;
    try { photo = await shrink(video); } catch (e) {
      $("play-error").textContent = "The camera did not give a picture. Try again, or use the photo button.";
      return;
    }
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
  if (reply.error) { $("photo-verdict").textContent = ""; $("play-error").textContent = reply.error; return; }
  $("play-error").textContent = "";
  const [best] = reply.result.predictions;
  $("photo-verdict").textContent = !best ? "I don't know this one." : reply.result.sure ? `I think it is: ${best.name}` : "I'm not sure. Maybe…";
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
  if (reply.error) { $("pose-verdict").textContent = ""; $("play-error").textContent = reply.error; return; }
  $("play-error").textContent = "";
  const canvas = $("pose-photo");
  Figure.photo(canvas, photo.bitmap);
  Figure.draw(canvas, reply.result.keypoints, poses.bones, { clear: false, color: "#ffcc00", width: 5 });
  canvas.classList.remove("hidden");
  const verdict = reply.result.verdict;
  const title = (poses.list.find((p) => p.name === pose) || {}).title || pose;
  $("pose-verdict").textContent = verdict.matched ? `✓ Well done: ${title}!` : "Nearly! Try this:";
  $("pose-verdict").className = "feedback " + (verdict.matched ? "ok" : "bad");
  for (const advice of verdict.advice) {
    const li = document.createElement("li");
    li.textContent = advice;
    $("pose-advice").appendChild(li);
  }
  $("pose-managed").textContent = reply.managed && reply.managed.length ? `You have done: ${reply.managed.join(", ")}` : "";
});
