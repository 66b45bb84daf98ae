// The projector: the class's top rows, live from /ws/classes/<id>/leaderboard (the session
// cookie authenticates it; the server checks our Origin), with the latest headline.
import { api } from "./api.js";
import { el, pct, time, usd } from "./fmt.js";
import { socketUrl } from "./live.js";

const root = document.getElementById("projector");
const id = root.dataset.class;
const state = document.getElementById("board-state");
const body = document.querySelector("#board tbody");
// Per-frame figures for the projector benchmark: tick, server time, shown at.
const stats = (window.__boardStats = []);
const REASONS = { 4001: "Your session ended: sign in again.", 4003: "You may not watch this class's board.", 4004: "There is no such class." };

document.getElementById("fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else document.documentElement.requestFullscreen();
});

function show(frame) {
  body.replaceChildren(...frame.data.map((row) => el("tr", {},
    el("td", { text: String(row.rank) }),
    el("td", { text: row.username }),
    el("td", { class: "num", text: usd(row.total_value) }),
    el("td", { class: `num ${Number(row.pnl) > 0 ? "up" : Number(row.pnl) < 0 ? "down" : ""}`, text: pct(row.return_pct) }),
    el("td", { class: "num hide-small", text: usd(row.pnl) }),
    el("td", { class: "num hide-small", text: String(row.trades) }))));
  if (!frame.data.length) body.append(el("tr", {}, el("td", { colspan: "6", text: "No students yet." })));
  document.getElementById("board-headline").textContent = frame.headline ? frame.headline.headline : "";
  state.textContent = `${frame.students} students · ${frame.status}${frame.final ? " · final ranking" : ""} · tick #${frame.tick} at ${time(frame.time)}`;
  root.dataset.tick = String(frame.tick);
}

function connect() {
  const socket = new WebSocket(socketUrl(`/ws/classes/${id}/leaderboard?limit=20`));
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "leaderboard") {
      show(frame);
      const entry = { tick: frame.tick, serverTime: Date.parse(frame.time), paintedAt: null };
      // The next frame is the first that can show the new rows.
      requestAnimationFrame(() => { entry.paintedAt = performance.timeOrigin + performance.now(); });
      stats.push(entry);
      if (stats.length > 2000) stats.shift();
    }
    else if (frame.type === "error") state.textContent = frame.detail || frame.code;
  });
  socket.addEventListener("close", (event) => {
    if (REASONS[event.code]) {
      state.textContent = REASONS[event.code];
      return;
    }
    state.textContent = "Reconnecting…";
    setTimeout(connect, 1000);
  });
}

// Students read their own class; its teacher and admins the class itself.
const student = document.body.dataset.role === "customer";
(student ? api("/api/v1/classes/mine") : api(`/api/v1/classes/${id}`)).then((answer) => {
  if (answer.data) document.getElementById("board-name").textContent = `${answer.data.name}: leaderboard`;
}, () => {});
connect();
