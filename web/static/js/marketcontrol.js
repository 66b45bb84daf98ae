// Market control: every action form posts to its /api/v1/market route, now or scheduled.
import { api, handleForm } from "./api.js";
import { el, time } from "./fmt.js";

const NUMBERS = new Set(["percent", "spread_seconds", "decay_seconds"]);
const result = document.getElementById("control-result");

function number(text) {
  return text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
}

function describe(action) {
  const p = action.params;
  const bits = [action.kind];
  if (p.asset_id) bits.push(p.asset_id);
  if (p.category) bits.push(p.category);
  if (p.percent !== undefined) bits.push(`${p.percent > 0 ? "+" : ""}${p.percent}%`);
  if (p.regime) bits.push(p.regime);
  if (p.reason) bits.push(`“${p.reason}”`);
  if (p.headline) bits.push(`headline “${p.headline}”`);
  return bits.join(" ");
}

async function loadStatus() {
  const s = await api("/api/v1/market/status");
  const parts = [s.paused ? `Paused since ${time(s.pause.since)} by ${s.pause.by}: ${s.pause.reason}${s.pause.freeze_prices ? " (prices frozen)" : ""}` : "Trading"];
  parts.push(`regime ${s.regime}`, `tick #${s.tick_seq}`);
  if (s.halts.length) parts.push(`halted: ${s.halts.map((h) => `${h.asset_id} (${h.reason})`).join(", ")}`);
  if (s.shocks.length) parts.push(`shocks in progress: ${s.shocks.length}`);
  document.getElementById("market-status").textContent = parts.join(" · ");
  const body = document.querySelector("#schedule tbody");
  body.replaceChildren(...s.scheduled.map((action) => {
    const cancel = el("button", { type: "button", class: "outline secondary", text: "Cancel", "aria-label": `Cancel scheduled ${describe(action)}` });
    cancel.addEventListener("click", async () => {
      await api(`/api/v1/market/actions/${action.action_id}`, { method: "DELETE" });
      result.textContent = `Cancelled the scheduled ${action.kind}.`;
      await loadStatus();
    });
    return el("tr", {}, el("td", { text: time(action.run_at) }), el("td", { text: describe(action) }), el("td", { text: action.created_by }), el("td", {}, cancel));
  }));
  if (!s.scheduled.length) body.append(el("tr", {}, el("td", { colspan: "4", text: "Nothing scheduled." })));
}

for (const form of document.querySelectorAll("form[data-route]")) {
  // Each form names its fields as the API does, so a 422 lands at the right field.
  for (const input of form.querySelectorAll("[id]")) {
    const api_name = input.dataset.name || (input.id.endsWith("-at") ? "at" : null);
    if (!api_name) continue;
    const slot = form.querySelector(`[data-error-for="${input.name || input.id}"]`);
    input.name = api_name;
    if (slot) slot.dataset.errorFor = api_name;
  }
  handleForm(form, async (values) => {
    let route = form.dataset.route;
    const body = {};
    for (const [name, value] of Object.entries(values)) {
      if (name === "asset_id") route = route.replace("{asset_id}", encodeURIComponent(value.toUpperCase() || "-"));
      else if (name === "at") { if (value) body.at = new Date(value).toISOString(); }
      else if (name === "which") continue;
      else if (NUMBERS.has(name)) { if (value !== "") body[name] = number(value); }
      else body[name] = value;
    }
    if (form.id === "shock-form") {
      const target = document.getElementById("shock-target").value;
      if (target !== "market") body[target === "asset" ? "asset_id" : "category"] = target === "asset" ? values.which.toUpperCase() : values.which;
    }
    const action = await api(route, { method: "POST", body });
    result.className = "good";
    result.textContent = action.status === "scheduled"
      ? `Scheduled: ${describe(action)} at ${time(action.run_at)}.`
      : `Done: ${describe(action)}.`;
    for (const input of form.querySelectorAll("input")) if (input.type !== "checkbox") input.value = "";
    await loadStatus();
  });
}

await loadStatus();
setInterval(loadStatus, 5000);
