// The live scenario in the teacher console: progress, events, standings and the story's controls,
// polled from /api/v1/scenario every 2 s while the page is in view (prices and headlines have
// their websockets; this status changes at the story's own pace and is cheap to ask for).
import { api, ApiError, download } from "./api.js";
import { el, pct, usd } from "./fmt.js";
import { bars } from "./sparkline.js";

const POLL_MS = 2000;
const OVER = new Set(["finished", "stopped"]);

// Simulated seconds as h:mm:ss (hours go past 24 for stories longer than a day).
export function clock(seconds) {
  const whole = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

function table(body, rows, empty, columns) {
  body.replaceChildren(...rows);
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: String(columns), text: empty })));
}

function showStandings(box, story) {
  const standings = Array.isArray(story.standings) ? story.standings : null;
  box.hidden = standings === null;
  const seats = box.querySelector("#scenario-seats");
  seats.hidden = !(typeof story.seats === "number" && story.seats > 0);
  seats.textContent = `Seat logins (${story.seats} seats)`;
  if (standings === null) return;
  const sign = (row) => (row.return_pct > 0 ? "up" : row.return_pct < 0 ? "down" : "");
  table(box.querySelector("tbody"), standings.map((row) => el("tr", {},
    el("td", { class: "num", text: String(row.rank) }),
    el("td", { text: row.label || row.participant }),
    el("td", { class: "hide-small", text: row.kind }),
    el("td", { class: "num", text: usd(row.equity) }),
    el("td", { class: `num ${sign(row)}`, text: pct(row.return_pct) }))), "No participants yet.", 5);
  box.querySelector("#standings-chart").replaceChildren(bars(standings.map((row) => ({
    name: row.label || row.participant,
    value: Number(row.equity),
    text: `${usd(row.equity)} (${pct(row.return_pct)})`,
    className: sign(row),
  })), { label: "Equity by participant" }));
}

export function startScenario(section) {
  const figure = (id) => section.querySelector(`#${id}`);
  const error = figure("scenario-error");
  const buttons = [...section.querySelectorAll("[data-scenario]"), figure("scenario-stop")];
  const dialog = document.getElementById("stop-dialog");
  let timer = null;
  let running = true;

  function render(story) {
    figure("scenario-name").textContent = story.name;
    figure("scenario-state").textContent = story.state;
    const progress = figure("scenario-progress");
    progress.max = story.duration_s || 1;
    progress.value = Math.min(story.elapsed_s, story.duration_s);
    const share = story.duration_s ? (story.elapsed_s / story.duration_s) * 100 : 0;
    figure("scenario-time").textContent = `${clock(story.elapsed_s)} of ${clock(story.duration_s)} (${share.toFixed(1)}%) · speed ×${story.speed}`;
    figure("scenario-tick").textContent = `${story.tick} of ${story.ticks}`;
    figure("scenario-bots").textContent = String(story.bots);
    const next = story.next_event;
    const when = next ? clock(next.at_s) : "";
    figure("scenario-next").textContent = next ? (next.label.includes(when) ? next.label : `${next.label} at ${when}`) : "none: the timeline has run";
    table(figure("story-events").querySelector("tbody"), [...story.events].reverse().map((event) => el("tr", {},
      el("td", { text: clock(event.at_s) }),
      el("td", { text: event.kind }),
      el("td", { class: event.status === "failed" ? "bad" : "", text: event.status }),
      el("td", { text: event.detail }))), "No events yet.", 4);
    showStandings(figure("scenario-standings"), story);
    // Only what fits the state: a held story resumes, a running one pauses or skips, an
    // ended one does nothing more.
    const over = OVER.has(story.state);
    const live = story.state === "running" || story.state === "starting";
    section.querySelector('[data-scenario="pause"]').disabled = over || !live;
    section.querySelector('[data-scenario="resume"]').disabled = story.state !== "paused";
    section.querySelector('[data-scenario="skip"]').disabled = story.state !== "running" || !next;
    figure("scenario-stop").disabled = over;
  }

  function gone() {
    running = false;
    clearTimeout(timer);
    section.replaceChildren(el("h2", { text: "Scenario" }), el("p", { class: "rule", text: "No scenario is running on this exchange." }));
  }

  async function refresh() {
    if (!running) return;
    try {
      render(await api("/api/v1/scenario"));
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      if (failure.status === 404) return gone();
      error.textContent = failure.message;
    }
    // Cleared here, after the answer, so that overlapping refreshes leave one timer.
    clearTimeout(timer);
    if (running && document.visibilityState === "visible") timer = setTimeout(refresh, POLL_MS);
  }

  async function control(action) {
    error.textContent = "";
    for (const button of buttons) button.disabled = true;
    try {
      render(await api(`/api/v1/scenario/${action}`, { method: "POST" }));
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      error.textContent = failure.message;
      await refresh();
    }
  }

  for (const button of section.querySelectorAll("[data-scenario]")) {
    button.addEventListener("click", () => control(button.dataset.scenario));
  }
  figure("scenario-stop").addEventListener("click", () => dialog.showModal());
  document.getElementById("stop-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("stop-confirm").addEventListener("click", () => {
    dialog.close();
    control("stop");
  });

  figure("scenario-seats").addEventListener("click", async () => {
    error.textContent = "";
    try {
      await download("/api/v1/scenario/seats/logins", "seat-logins.csv");
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      error.textContent = failure.message;
    }
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
    else clearTimeout(timer);
  });
  return refresh();
}
