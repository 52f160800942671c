// "Set up tablets": choose a device, follow its steps on the device itself, then check that it
// trusts the hub's secure address (hub/web/setup.py).
"use strict";
const $ = (id) => document.getElementById(id);

// The steps for each kind of device. Each step: what to do, and a small picture of it.
const DEVICES = {
  ipad: {
    name: "iPad or iPhone",
    file: "Download the profile",
    steps: [
      ["Open this page on the iPad in Safari: scan the QR code with the Camera app.", "qr"],
      ["Tap “Download the profile”, then “Allow”.", "download"],
      ["Open Settings. Tap “Profile Downloaded” near the top, then Install, and type the iPad's passcode.", "settings"],
      ["In Settings › General › About › Certificate Trust Settings, turn on “{authority}”.", "toggle"],
      ["Come back to this page and tap Check.", "check"],
    ],
    redo: "Do step 4 again: turning on full trust in Certificate Trust Settings is the step most often missed.",
  },
  android: {
    name: "Android tablet or phone",
    file: "Download the certificate",
    steps: [
      ["Open this page on the tablet in Chrome: scan the QR code with the camera.", "qr"],
      ["Tap “Download the certificate”.", "download"],
      ["Open Settings › Security › Encryption & credentials › Install a certificate › CA certificate. " +
       "Tap “Install anyway” and choose classroom-hub-ca.crt from Downloads.", "settings"],
      ["Come back to this page and tap Check.", "check"],
    ],
    redo: "Do step 3 again, and choose “CA certificate” (not VPN or Wi-Fi). Then close Chrome and open this page again.",
  },
  chromebook: {
    name: "Chromebook",
    file: "Download the certificate",
    steps: [
      ["Open this page on the Chromebook: scan the QR code, or type the address under it.", "qr"],
      ["Click “Download the certificate”.", "download"],
      ["Type chrome://settings/certificates in the address bar. Open Authorities, click Import, choose " +
       "classroom-hub-ca.crt, tick “Trust this certificate for identifying websites”, then OK.", "settings"],
      ["Come back to this page and click Check.", "check"],
    ],
    redo: "Do step 3 again and tick “Trust this certificate for identifying websites”. " +
          "School-managed Chromebooks: IT can add it for all of them in the Google Admin console.",
  },
  windows: {
    name: "Windows laptop",
    file: "Download the certificate",
    steps: [
      ["Open this page on the laptop in Edge or Chrome.", "qr"],
      ["Click “Download the certificate”, then open classroom-hub-ca.cer.", "download"],
      ["Click Install Certificate, choose Current User, then “Place all certificates in the following store”, " +
       "Browse, “Trusted Root Certification Authorities”, Finish and Yes.", "settings"],
      ["Close the browser, open this page again and click Check.", "check"],
    ],
    redo: "Do step 3 again, and choose the store “Trusted Root Certification Authorities”. Then restart the browser.",
  },
};

// Small pictures (setup.html's templates): a tablet with the thing to look for on its screen.
function picture(kind) {
  return document.getElementById(`picture-${kind}`).content.firstElementChild.cloneNode(true);
}

let status = null;

async function load() {
  status = await (await fetch("/api/setup", { cache: "no-store" })).json();
  const device = location.pathname.split("/")[2];
  if (device && DEVICES[device]) showSteps(device);
  else showChoice();
}

function showChoice() {
  $("choose").classList.remove("hidden");
  $("no-install").classList.toggle("hidden", status.tls !== "files");
  $("no-https").classList.toggle("hidden", status.tls !== "off");
  $("fingerprint").textContent = status.fingerprint_sha256 || "—";
  $("it").classList.toggle("hidden", !status.fingerprint_sha256);
  $("devices").replaceChildren(...status.devices.map((id) => {
    const device = DEVICES[id];
    const item = document.createElement("li");
    item.className = "card device";
    const title = document.createElement("h2");
    title.textContent = device.name;
    const qr = document.createElement("img");
    qr.src = `/setup/${id}/qr.svg`;
    qr.alt = `QR code: opens the ${device.name} steps on that device`;
    qr.className = "device-qr";
    const link = document.createElement("a");
    link.href = `/setup/${id}`;
    link.className = "button secondary";
    link.textContent = "See the steps";
    const which = document.createElement("span");  // visible text first in the name (axe-core)
    which.className = "visually-hidden";
    which.textContent = ` for ${device.name}, on this screen`;
    link.append(which);
    item.append(title, qr, link);
    return item;
  }));
  showTeacher();
}

function showTeacher() {
  $("teacher-out").classList.toggle("hidden", status.teacher);
  $("teacher-in").classList.toggle("hidden", !status.teacher);
  if (!status.teacher) return;
  const n = status.devices_passed;
  $("passed").textContent = n === 1 ? "1 device has passed the check." : `${n} devices have passed the check.`;
  $("secure-join").setAttribute("aria-checked", String(status.secure_join));
  $("secure-join").disabled = !status.secure_url || !status.plain_url;
  $("secure-address").textContent = status.secure_url || "the secure address";
}

async function toggleSecureJoin() {
  $("switch-error").textContent = "";
  const on = $("secure-join").getAttribute("aria-checked") !== "true";
  try {
    const reply = await fetch("/api/setup/secure-join", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ on }),
    });
    const body = await reply.json();
    if (!reply.ok) throw new Error(body.error || "the hub refused");
    status.secure_join = body.secure_join;
    showTeacher();
  } catch (e) {
    $("switch-error").textContent = `Could not change it: ${e.message}`;
  }
}

function showSteps(id) {
  const device = DEVICES[id];
  $("steps").classList.remove("hidden");
  $("device-heading").textContent = `Set up: ${device.name}`;
  document.title = `Classroom Hub · Set up ${device.name}`;
  const install = status.install_needed;
  $("steps-no-install").classList.toggle("hidden", status.tls !== "files");
  $("step-list").classList.toggle("hidden", !install);
  $("download").classList.toggle("hidden", !install);
  $("check").classList.toggle("hidden", status.tls === "off");
  $("download").textContent = device.file;
  $("download").href = `/setup/${id}/file`;
  $("step-list").replaceChildren(...device.steps.map(([text, kind]) => {
    const item = document.createElement("li");
    const words = document.createElement("p");
    words.textContent = text.replace("{authority}", status.authority_name || "Classroom Hub");
    item.append(picture(kind), words);
    return item;
  }));
  if (status.tls === "off") {
    $("result").textContent = "This hub has no secure address yet: ask IT to turn it on.";
  }
  $("check").addEventListener("click", () => check(device));
}

// One random id per browser, so that a tablet checking twice counts once. No name, nothing else.
function deviceId() {
  let id = localStorage.getItem("hub-setup-device");
  if (!id || !/^[0-9a-f]{32}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("hub-setup-device", id);
  }
  return id;
}

// The secure address by the same name this page was opened at: the check asks it from here, and a
// browser that does not trust the hub's certificate refuses to, so only a trusting tablet passes.
function secureHere() {
  return `https://${location.hostname}:${status.secure_port}/`;
}

async function check(device) {
  const result = $("result");
  result.className = "result";
  result.textContent = "Checking…";
  $("check").disabled = true;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 8000);
  let trusted = false;
  try {
    const reply = await fetch(`${secureHere()}api/setup/check?device=${deviceId()}`,
      { cache: "no-store", credentials: "omit", signal: stop.signal });
    trusted = reply.ok && (await reply.json()).trusted === true;
  } catch (e) {
    trusted = false;  // the browser refused the certificate (or the hub did not answer)
  }
  clearTimeout(timer);
  $("check").disabled = false;
  result.replaceChildren();
  if (trusted) {
    result.className = "result ok";
    const words = document.createElement("p");
    words.textContent = "This tablet trusts the hub ✓";
    const open = document.createElement("a");
    open.className = "button";
    open.href = secureHere();
    open.textContent = "Open the secure address";
    result.append(words, open);
  } else {
    result.className = "result bad";
    const words = document.createElement("p");
    words.textContent = "Not yet: this tablet does not trust the hub.";
    const redo = document.createElement("p");
    redo.textContent = status.install_needed ? device.redo
      : "Check that the tablet is on the school's network and its clock is right.";
    result.append(words, redo);
  }
}

$("secure-join").addEventListener("click", toggleSecureJoin);
load().catch(() => { document.querySelector("main").textContent = "The hub is not answering. Reload the page."; });
// the teacher sees the count rise as tablets pass the check
setInterval(async () => {
  if (!status || !status.teacher || $("choose").classList.contains("hidden")) return;
  try {
    status = { ...status, ...(await (await fetch("/api/setup", { cache: "no-store" })).json()) };
    showTeacher();
  } catch (e) { /* next time */ }
}, 5000);
