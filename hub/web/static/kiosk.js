// The kiosk: the class code, a QR code to join, anonymous class figures and the hub's state.
"use strict";
const $ = (id) => document.getElementById(id);
let shownCode = undefined;
let shownUrl = undefined;
let ticks = 0;

async function refresh() {
  try {
    const c = await (await fetch("/api/classes/current/public", { cache: "no-store" })).json();
    const running = !!c.code;
    $("waiting").classList.toggle("hidden", running);
    $("running").classList.toggle("hidden", !running);
    // a new class, or now and then (the teacher may switch to the secure address on /setup)
    if (c.code !== shownCode || ticks++ % 3 === 0) {
      const qr = await fetch("/api/classes/current/qr.svg", { cache: "no-store" });
      const joinUrl = qr.headers.get("X-Join-Url") || location.origin;
      if (c.code !== shownCode || joinUrl !== shownUrl) {
        const url = joinUrl.split("?")[0];
        $("url").textContent = url;
        // the secure address: tablets that were set up (/setup) can speak and use the camera
        $("speaking").classList.toggle("hidden", !url.startsWith("https://"));
        if ($("qr").src) URL.revokeObjectURL($("qr").src);
        $("qr").src = URL.createObjectURL(await qr.blob());
      }
      shownCode = c.code;
      shownUrl = joinUrl;
    }
    if (running) {
      $("code").textContent = c.code;
      $("activity").textContent = c.activity ? c.activity.title : "";
      $("tablets").textContent = c.tablets;
      $("answers").textContent = c.answers;
      $("accuracy").textContent = c.accuracy == null ? "—" : `${Math.round(c.accuracy * 100)}%`;
      $("paused").classList.toggle("hidden", !c.paused);  // the whole screen: the room looks up
      showLead(c.lead);
      showTeach(c.teach);
    }
    // the room reads this: whether the hub is ready, in words (the teacher's Details say the rest)
    const models = await (await fetch("/api/models", { cache: "no-store" })).json();
    const ready = models.some((m) => m.status === "ready");
    $("status").textContent = ready ? "✓ The hub is ready" : "The hub is getting ready…";
    if (!running) $("paused").classList.add("hidden");
  } catch (e) {
    $("status").textContent = "The hub is not answering…";
  }
}
// the teacher leading the class ("everyone: star!"): the pose, big, for the whole room
let shownLead = null;
function showLead(lead) {
  $("lead").classList.toggle("hidden", !lead);
  if (!lead || (shownLead && shownLead.pose === lead.pose)) { shownLead = lead; return; }
  shownLead = lead;
  $("lead-title").textContent = `Everyone: ${lead.title}!`;
  $("lead-how").textContent = lead.how || "";
  const points = Object.fromEntries((lead.figure || []).map((p) => [p.name, [p.x, p.y]]));
  Figure.draw($("lead-figure"), points, lead.skeleton || [], { color: "#ffcc00", width: 7 });
  $("lead-figure").setAttribute("aria-label", `The pose: ${lead.title}`);
}

// Teach the hub: what the class is teaching it, and how many examples of each thing so far
function showTeach(project) {
  $("teach").classList.toggle("hidden", !project);
  if (!project) return;
  $("teach-title").textContent = project.name.replace(/-/g, " ");
  const counts = $("teach-counts");
  counts.replaceChildren(...project.labels.map((label, i) => {
    const figure = document.createElement("div");
    figure.className = "figure";
    const count = document.createElement("b");
    count.textContent = project.counts[i];
    figure.append(count, label);
    return figure;
  }));
}

refresh();
setInterval(refresh, 2000);
