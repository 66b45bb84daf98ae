// One class in the teacher console: join code, lifecycle, roster and monitor, reset and adjust,
// the review desk, rules and exports. Everything through /api/v1/classes/<id>.
import { notice } from "./app.js";
import { api, ApiError, download, handleForm } from "./api.js";
import { url } from "./root.js";
import { describeOrder, el, pct, time, usd } from "./fmt.js";
import { describeRules, fillRules, rulesBody } from "./rules.js";

const root = document.getElementById("class-console");
const id = root.dataset.class;
const say = (node, text, kind = "good") => { node.className = kind; node.textContent = text; };

async function loadClass() {
  const info = (await api(`/api/v1/classes/${id}`)).data;
  document.getElementById("class-name").textContent = info.name;
  document.title = `${info.name} · Exchange`;
  document.getElementById("class-status").textContent = `Status: ${info.status} · ${info.students} students · teacher ${info.teacher}`;
  document.getElementById("join-code").textContent = info.code;
  const link = document.getElementById("join-link");
  link.href = info.join_path;
  link.textContent = location.origin + info.join_path;
  document.getElementById("projector-link").href = url(`/classes/${id}/board`);
  document.getElementById("rules-summary").textContent = describeRules(info.rules);
  fillRules(document.getElementById("rules-form"), info.rules);
  for (const button of document.querySelectorAll("[data-status]")) button.disabled = info.status === "closed" || info.status === button.dataset.status;
  for (const anchor of document.querySelectorAll("#exports [data-kind]")) anchor.href = url(`/api/v1/classes/${id}/exports/${anchor.dataset.kind}.csv`);
}

for (const button of document.querySelectorAll("[data-status]")) {
  button.addEventListener("click", async () => {
    const error = document.getElementById("lifecycle-error");
    error.textContent = "";
    try {
      await api(`/api/v1/classes/${id}/status`, { method: "POST", body: { status: button.dataset.status } });
      await loadClass();
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      error.textContent = failure.message;
    }
  });
}

// --- roster, monitor, reset, adjust
const roster = document.querySelector("#roster tbody");
const chooser = document.getElementById("adjust-username");
const rosterResult = document.getElementById("roster-result");

async function loadRoster() {
  const students = (await api(`/api/v1/classes/${id}/students`)).data;
  roster.replaceChildren(...students.map((student) => {
    const s = student.standing;
    const watch = el("button", { type: "button", class: "outline", text: "Monitor", "aria-label": `Monitor ${student.username}` });
    watch.addEventListener("click", () => showMonitor(student.username));
    const reset = el("button", { type: "button", class: "outline secondary", text: "Reset", "aria-label": `Reset ${student.username}` });
    reset.addEventListener("click", async () => {
      await api(`/api/v1/classes/${id}/students/${student.username}/reset`, { method: "POST", body: {} });
      say(rosterResult, `${student.username} is back to the starting cash.`);
      await loadRoster();
    });
    return el("tr", { "data-student": student.username },
      el("td", { text: s ? String(s.rank) : "—" }),
      el("td", { text: `${student.username} (${student.first_name} ${student.last_name})` }),
      el("td", { class: "num", text: s ? usd(s.total_value) : "—" }),
      el("td", { class: "num", text: s ? usd(s.pnl) : "—" }),
      el("td", { class: "num", text: s ? pct(s.return_pct) : "—" }),
      el("td", { class: "num", text: s ? String(s.trades) : "—" }),
      el("td", { class: "num", text: String(student.open_orders) }),
      el("td", { class: "actions" }, watch, reset));
  }));
  if (!students.length) roster.append(el("tr", {}, el("td", { colspan: "8", text: "No students yet: show them the join code." })));
  const chosen = chooser.value;
  chooser.replaceChildren(...students.map((s) => el("option", { value: s.username, text: s.username })));
  if (chosen) chooser.value = chosen;
}

function list(title, items, line) {
  return [el("h3", { text: title }), items.length ? el("ul", {}, ...items.map((item) => el("li", { text: line(item) }))) : el("p", { text: "None." })];
}

async function showMonitor(username) {
  const data = await api(`/api/v1/classes/${id}/students/${username}`);
  const box = document.getElementById("monitor");
  box.hidden = false;
  document.getElementById("monitor-title").textContent = `Monitor: ${username}`;
  document.getElementById("monitor-body").replaceChildren(
    el("p", { text: `Cash ${usd(data.cash)} (reserved ${usd(data.reserved)})${data.standing ? ` · total ${usd(data.standing.total_value)} · rank ${data.standing.rank}` : ""}` }),
    ...list("Holdings", data.holdings, (h) => `${h.quantity} ${h.asset_id} worth ${usd(h.value)}`),
    ...list("Open orders", data.open_orders, (o) => `${describeOrder(o)} (${o.status})`),
    ...list("Trades", data.trades, (o) => `${time(o.updated_at)}: ${describeOrder(o)} at ${usd(o.filled_price)}`),
    ...list("Notes", data.notes, (n) => `${time(n.created_at)}: ${n.note}`),
  );
  box.scrollIntoView({ block: "nearest" });
}

document.getElementById("reset-all").addEventListener("click", async () => {
  const done = await api(`/api/v1/classes/${id}/reset`, { method: "POST", body: {} });
  say(rosterResult, `${done.reset} students are back to the starting cash.`);
  await loadRoster();
});

const adjust = document.getElementById("adjust-form");
handleForm(adjust, async (values) => {
  await api(`/api/v1/classes/${id}/students/${values.username}/adjust`, { method: "POST", body: { amount: values.amount, reason: values.reason } });
  say(rosterResult, `Adjusted ${values.username}'s cash by ${usd(values.amount)}.`);
  adjust.reset();
  await loadRoster();
});

const generate = document.getElementById("generate-form");
handleForm(generate, async (values) => {
  const count = /^\d+$/.test(values.count.trim()) ? Number(values.count) : values.count;
  await download(`/api/v1/classes/${id}/students/generate`, "logins.csv", { count, prefix: values.prefix.trim() });
  say(rosterResult, `Generated ${count} logins; the CSV is downloaded (it is shown only once).`);
  generate.reset();
  await loadRoster();
});

// --- rules
handleForm(document.getElementById("rules-form"), async (values) => {
  await api(`/api/v1/classes/${id}/rules`, { method: "PUT", body: rulesBody(values) });
  say(document.getElementById("rules-result"), "Rules saved.");
  await loadClass();
});

// --- review desk
const filter = document.getElementById("review-filter");
const reviews = document.querySelector("#reviews tbody");
const reviewError = document.getElementById("review-error");

async function loadStats() {
  const s = await api(`/api/v1/classes/${id}/reviews/stats`);
  const rate = s.approval_rate === null ? "—" : `${(s.approval_rate * 100).toFixed(1)}%`;
  document.getElementById("review-stats").textContent =
    `Total ${s.total} · pending ${s.pending} · approved ${s.approved} · rejected ${s.rejected} · cancelled ${s.cancelled} · approval rate ${rate}`;
}

async function decide(item, decision, noteInput) {
  reviewError.textContent = "";
  const note = noteInput.value.trim();
  try {
    await api(`/api/v1/classes/${id}/reviews/${item.order.order_id}/${decision}`, { method: "POST", body: note ? { note } : {} });
    notice(`${decision === "approve" ? "Approved" : "Rejected"}: ${item.username}'s ${describeOrder(item.order)}.`, "good");
  } catch (failure) {
    if (!(failure instanceof ApiError)) throw failure;
    reviewError.textContent = failure.message;
  }
  await Promise.all([loadReviews(), loadStats(), loadRoster()]);
}

async function loadReviews() {
  const params = new URLSearchParams({ limit: "100" });
  const { status, username } = { status: filter.elements.status.value, username: filter.elements.username.value.trim() };
  if (status) params.set("status", status);
  if (username) {
    params.set("username", username);
    params.set("match", filter.elements.exact.checked ? "exact" : "partial");
  }
  const page = await api(`/api/v1/classes/${id}/reviews?${params}`);
  // Notes typed but not yet sent survive the redraw.
  const typed = new Map([...reviews.querySelectorAll("tr[data-order]")].map((row) => [row.dataset.order, row.querySelector("input")?.value || ""]));
  reviews.replaceChildren(...page.data.map((item) => {
    const what = describeOrder(item.order);
    const decisionCell = el("td", {});
    if (item.review_status === "review") {
      const note = el("input", { type: "text", maxlength: "1000", "aria-label": `Decision note for ${item.username}'s ${what}`, placeholder: "note (optional)" });
      note.value = typed.get(item.order.order_id) || "";
      const approve = el("button", { type: "button", text: "Approve", "aria-label": `Approve ${item.username}'s ${what}` });
      const reject = el("button", { type: "button", class: "secondary", text: "Reject", "aria-label": `Reject ${item.username}'s ${what}` });
      approve.addEventListener("click", () => decide(item, "approve", note));
      reject.addEventListener("click", () => decide(item, "reject", note));
      decisionCell.append(note, el("div", { class: "actions" }, approve, reject));
    } else {
      decisionCell.textContent = item.decided_by ? `${item.decided_by}, ${time(item.decided_at)}${item.decision_note ? `: ${item.decision_note}` : ""}` : "—";
    }
    return el("tr", { "data-order": item.order.order_id },
      el("td", { text: item.username }),
      el("td", { text: `${what} · ${item.order.status}` }),
      el("td", { class: "num", text: usd(item.value) }),
      el("td", { class: "note", text: item.order.note || "" }),
      el("td", { text: item.review_status }),
      decisionCell);
  }));
  if (!page.data.length) reviews.append(el("tr", {}, el("td", { colspan: "6", text: "Nothing to review." })));
}

filter.addEventListener("submit", (event) => { event.preventDefault(); loadReviews(); });
filter.addEventListener("input", () => loadReviews());
filter.addEventListener("change", () => loadReviews());

let ready = false;
try {
  await loadClass();
  ready = true;
} catch (failure) {
  // Another teacher's class, or none: say so instead of an empty console.
  if (!(failure instanceof ApiError)) throw failure;
  root.replaceChildren(el("h1", { text: "Class" }), el("p", { class: "bad", role: "alert", text: failure.message }), el("p", {}, el("a", { href: url("/teacher"), text: "Back to your classes" })));
}
if (ready) {
  await Promise.all([loadRoster(), loadReviews(), loadStats()]);
  // The desk and the roster change as students trade: look again every few seconds. A note
  // being typed is never wiped by a refresh.
  const typing = () => reviews.contains(document.activeElement) || [...reviews.querySelectorAll("input")].some((i) => i.value);
  setInterval(() => { if (!typing()) loadReviews(); loadStats(); loadRoster(); }, 3000);
}
