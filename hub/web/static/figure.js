// Drawing a body on a canvas: the pose to copy (a stick figure) and the skeleton the hub found on a
// photo. Shared by the pupils' page and the kiosk. Points are fractions of the picture (x right, y down).
"use strict";
const Figure = {
  // points: {name: [x, y]} or [{name, x, y, score}]; bones: [[name, name], ...] as the hub lists them
  draw(canvas, points, bones, { color = "#2f6fed", width = 8, minScore = 0.3, clear = true } = {}) {
    const ctx = canvas.getContext("2d");
    if (clear) ctx.clearRect(0, 0, canvas.width, canvas.height);
    const at = {};
    if (Array.isArray(points)) { for (const p of points) if (p.score == null || p.score >= minScore) at[p.name] = [p.x, p.y]; }
    else Object.assign(at, points);
    const xy = ([x, y]) => [x * canvas.width, y * canvas.height];
    ctx.lineCap = "round"; ctx.lineWidth = width; ctx.strokeStyle = color; ctx.fillStyle = color;
    for (const [a, b] of bones) {
      if (!at[a] || !at[b]) continue;
      const [x1, y1] = xy(at[a]); const [x2, y2] = xy(at[b]);
      ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke();
    }
    for (const name of Object.keys(at)) {
      const [x, y] = xy(at[name]);
      ctx.beginPath(); ctx.arc(x, y, name === "nose" ? width * 2.2 : width * 0.8, 0, 2 * Math.PI); ctx.fill();
    }
  },
  // a picture drawn to fit the canvas's width, the canvas made its shape; returns nothing
  photo(canvas, bitmap, maxWidth = 480) {
    const scale = Math.min(1, maxWidth / bitmap.width);
    canvas.width = Math.round(bitmap.width * scale); canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  },
};
