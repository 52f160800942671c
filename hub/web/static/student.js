// The pupils' app: join, then whatever activity the teacher chose, drawn from what the hub says
// (the activity, its modes and the models behind them); no model name is written here.
// Pictures and recordings go to the hub over Socket.IO and are never stored anywhere.
"use strict";
const $ = (id) => document.getElementById(id);
const socket = io("/class", { transports: ["websocket", "polling"] });
const SCREENS = ["times-tables", "what-is-this", "move-like-me", "teach-the-hub"];  // the activities this page can draw
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

function setPaused(value) {
  paused = value;
  $("check").disabled = paused;
  $("play-error").textContent = paused ? "The teacher has paused the class." : "";
  if (activity && activity.name === "teach-the-hub") drawTeach();  // no examples or tries while paused
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

function teachWords(reply) {  // the hub's error, in words for a 6-to-11-year-old
  const text = reply.error || "";
  const words = {
    too_fast: "Whoa, slow down! Wait a moment, then tap again.",
    frozen: "The teacher has stopped the learning. You can still ask what the hub thinks!",
    not_trained: "The hub needs examples of two different things before it can guess.",
    nothing_to_teach: "Wait for your teacher to say what to teach the hub.",
    paused: "The teacher has paused the class.",
    timeout: "The hub did not answer. Check the Wi-Fi, then try again.",
  };
  if (words[reply.code]) return words[reply.code];
  if (reply.code === "limit_reached") return reply.limit === "per_pupil"
    ? "You have given lots of examples. Thank you! Let someone else have a go."
    : "The hub has lots of examples of that already. Show it the other things!";
  if (reply.code === "not_seen") return "The hub cannot see a whole person. Step back so all of you is in the photo.";
  if (/choose one of the things/i.test(text)) return "That is not on the list any more. Look at the buttons again!";
  return "The hub could not use that photo. Take another one.";
}

async function giveExample(label) {
  if (!teach.photo || teach.busy) return;
  teach.busy = true;
  say("Sending…");
  drawTeach();
  const reply = await ask("answer", { label, image: teach.photo.jpeg });
  teach.busy = false;
  if (reply.error) { say(teachWords(reply), "bad"); drawTeach(); return; }
  $("play-error").textContent = "";
  const p = teach.project, i = p ? p.labels.indexOf(reply.result.label) : -1;
  if (i >= 0) p.counts[i] = Math.max(p.counts[i] || 0, reply.result.count);  // the `teach` event follows
  say(`Thank you! The hub has ${plural(reply.result.count, "example")} of ${reply.result.label} now.`, "ok");
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
  $("play-error").textContent = "";
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
  $("play-error").textContent = "";
  say("");
  clearGuess();
  drawTeach();
});
