// The order ticket: the fields each order type needs, a live preview, then the server's answer.
import { api, handleForm } from "./api.js";
import { describeOrder, el, price, usd } from "./fmt.js";
import { latest, onPrices } from "./live.js";

const NEEDS = {
  market_buy: [], market_sell: [],
  limit_buy: ["price"], limit_sell: ["price"],
  stop_buy: ["stop_price"], stop_sell: ["stop_price"],
  stop_limit_buy: ["price", "stop_price"], stop_limit_sell: ["price", "stop_price"],
};

// The ids a class allows (in its asset list or one of its categories); null: every asset.
async function allowedAssets(classRules) {
  if (!classRules.allowed_assets && !classRules.allowed_categories) return null;
  const ids = new Set(classRules.allowed_assets || []);
  if (classRules.allowed_categories) {
    const catalogue = (await api("/api/v1/inventory/assets?limit=250")).data;
    for (const asset of catalogue) if (classRules.allowed_categories.includes(asset.category)) ids.add(asset.asset_id);
  }
  const options = document.getElementById("asset-options");
  options.replaceChildren(...[...ids].sort().map((id) => el("option", { value: id })));
  document.getElementById("asset_id").setAttribute("list", "asset-options");
  return ids;
}

export async function orderTicket({ onPlaced } = {}) {
  const form = document.getElementById("order-form");
  if (!form) return null;
  const result = document.getElementById("order-result");
  const view = (name) => form.querySelector(`[data-preview="${name}"]`);
  const label = (name) => form.querySelector(`[data-preview-label="${name}"]`);
  const rules = await api("/api/v1/trading/rules");
  // A student's class replaces the exchange's fee and cap and may allow only some assets.
  const klass = (await api("/api/v1/classes/mine")).data;
  const classRules = klass ? klass.rules : null;
  const feeBps = classRules ? classRules.fee_bps : rules.fee_bps;
  const cap = Number(classRules && classRules.max_order_value ? classRules.max_order_value : rules.max_order_value);
  const allowed = classRules ? await allowedAssets(classRules) : null;
  const submit = form.querySelector('button[type="submit"]');
  if (klass) {
    const bits = [`Class ${klass.name}: fee ${feeBps} bps`, `max order ${usd(cap)}`];
    if (allowed) bits.push(`assets ${[...allowed].join(", ")}`);
    if (classRules.review_above) bits.push(`orders above ${usd(classRules.review_above)} go to review`);
    document.getElementById("ticket-class").textContent = bits.join(" · ");
  }
  let account = null;
  let current = null; // the asset's current price

  async function loadAccount() {
    account = await api("/api/v1/portfolio");
    const cash = document.getElementById("ticket-cash");
    if (cash) cash.textContent = `Available ${usd(account.available_usd)} · Reserved ${usd(account.reserved_usd)}`;
    preview();
  }

  async function loadPrice() {
    const id = form.elements.asset_id.value.trim().toUpperCase();
    current = latest.get(id) ?? null;
    if (current === null && /^[A-Z0-9]{1,10}$/.test(id)) {
      try {
        current = (await api(`/api/v1/inventory/assets/${id}`)).data.price_usd;
      } catch {
        current = null;
      }
    }
    preview();
  }

  function holdingOf(id) {
    const found = account && account.assets.find((a) => a.asset_id === id);
    return found ? Number(found.quantity) - Number(found.reserved_quantity) : 0;
  }

  function showFields() {
    const needs = NEEDS[form.elements.order_type.value] || [];
    for (const box of form.querySelectorAll("[data-needs]")) {
      const wanted = needs.includes(box.dataset.needs);
      box.hidden = !wanted;
      box.querySelector("input").required = wanted;
    }
  }

  function preview() {
    const type = form.elements.order_type.value;
    const id = form.elements.asset_id.value.trim().toUpperCase();
    const buy = type.endsWith("_buy");
    const qty = Number(form.elements.quantity.value);
    const limit = Number(form.elements.price.value);
    const stop = Number(form.elements.stop_price.value);
    label("amount").textContent = buy ? "Cost" : "Proceeds";
    label("after").textContent = buy ? "Cash after" : `${id || "Holding"} after`;
    const warnings = [];
    const refused = allowed !== null && id !== "" && !allowed.has(id);
    submit.disabled = refused;
    if (refused) {
      for (const name of ["amount", "fee", "after"]) view(name).textContent = "—";
      view("warning").textContent = `${id} is not traded in your class.`;
      return;
    }
    let basis = current;
    if (type.startsWith("limit") || type.startsWith("stop_limit")) basis = limit || null;
    else if (type.startsWith("stop")) basis = stop || null;
    if (!(qty > 0) || !basis) {
      for (const name of ["amount", "fee", "after"]) view(name).textContent = "—";
      view("warning").textContent = "";
      return;
    }
    const value = qty * basis;
    const amount = buy ? Math.ceil(value * 100 - 1e-6) / 100 : Math.floor(value * 100 + 1e-6) / 100;
    const fee = Math.ceil(amount * feeBps - 1e-6) / 100;
    view("amount").textContent = usd(amount);
    view("fee").textContent = usd(fee);
    if (value > cap) warnings.push(`Over the ${usd(cap)} limit on one order's value.`);
    if (classRules && classRules.review_above && value > Number(classRules.review_above)) warnings.push("This order goes to your teacher's review desk.");
    if (account) {
      if (buy) {
        const after = Number(account.available_usd) - amount - fee;
        view("after").textContent = usd(after);
        if (after < 0) warnings.push(`Insufficient funds: ${usd(account.available_usd)} available.`);
      } else {
        const held = holdingOf(id);
        view("after").textContent = `${+(held - qty).toFixed(8)} ${id}`;
        if (qty > held + 1e-12) warnings.push(`Insufficient holdings: ${+held.toFixed(8)} ${id} available.`);
      }
    }
    view("warning").textContent = warnings.join(" ");
  }

  form.elements.order_type.addEventListener("change", () => { showFields(); preview(); });
  form.elements.asset_id.addEventListener("change", loadPrice);
  form.addEventListener("input", preview);
  onPrices((frame) => {
    const id = form.elements.asset_id.value.trim().toUpperCase();
    if (id in frame.prices) {
      current = frame.prices[id];
      preview();
    }
  });
  document.addEventListener("account-event", (event) => {
    if (event.detail.type === "balance" || event.detail.event === "fill") loadAccount();
  });

  handleForm(form, async (values) => {
    const needs = NEEDS[values.order_type] || [];
    const body = {
      order_type: values.order_type,
      asset_id: values.asset_id,
      quantity: values.quantity,
      time_in_force: values.time_in_force,
    };
    for (const name of needs) body[name] = values[name];
    if (values.note) body.note = values.note;
    if (values.expires_at) body.expires_at = new Date(values.expires_at).toISOString();
    result.replaceChildren();
    const placed = (await api("/api/v1/orders", { method: "POST", body })).data;
    let text = placed.status === "review"
      ? `Order held for your teacher's review: ${describeOrder(placed)}`
      : `Order ${placed.status}: ${describeOrder(placed)}`;
    if (placed.status === "completed") text += ` at ${price(placed.filled_price)} on tick #${placed.filled_tick_seq}, total ${usd(placed.total_amount)}`;
    if (placed.reason) text += ` (${placed.reason})`;
    result.append(el("p", { class: placed.status === "rejected" ? "bad" : "good", text: `${text}.` }));
    await loadAccount();
    if (onPlaced) onPlaced(placed);
  });

  showFields();
  await Promise.all([loadAccount(), loadPrice()]);
  return { reload: loadAccount };
}
