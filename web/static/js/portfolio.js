// The portfolio: holdings valued live, allocation, and each asset's trades.
import { api } from "./api.js";
import { el, price, sign, time, usd } from "./fmt.js";
import { onPrices } from "./live.js";
import { url } from "./root.js";

const figure = (name) => document.querySelector(`[data-figure="${name}"]`);
const body = document.querySelector("#holdings tbody");
const picker = document.getElementById("trades-asset");
let holdings = [];
let cash = 0;
const COLORS = ["#1e6f5c", "#3b82f6", "#f59e0b", "#a855f7", "#ef4444", "#14b8a6", "#64748b", "#84cc16"];

function render() {
  const value = holdings.reduce((sum, h) => sum + h.value, 0);
  const total = value + cash;
  figure("cash").textContent = usd(cash);
  figure("holdings").textContent = usd(value);
  figure("total").textContent = usd(total);
  body.replaceChildren(
    ...holdings.map((h) => {
      const pnl = h.value - h.qty * h.cost;
      const pnlCell = el("td", { class: "num", text: usd(pnl) });
      sign(pnlCell, pnl);
      return el("tr", { "data-asset": h.id },
        el("th", { scope: "row" }, el("a", { href: url(`/assets/${h.id}`), text: h.id })),
        el("td", { class: "num", text: String(h.qty) }),
        el("td", { class: "num", text: price(h.price) }),
        el("td", { class: "num", text: usd(h.value) }),
        el("td", { class: "num", text: price(h.cost) }),
        pnlCell,
        el("td", { class: "num", text: total ? `${((h.value / total) * 100).toFixed(2)}%` : "—" }));
    }),
  );
  if (!holdings.length) body.append(el("tr", {}, el("td", { colspan: "7", text: "No holdings yet: buy something on the market page." })));
  allocation(total);
}

function allocation(total) {
  const box = document.getElementById("allocation");
  const parts = [...holdings.map((h) => [h.id, h.value]), ["Cash", cash]].filter(([, v]) => v > 0);
  const bar = el("div", { class: "allocation-bar" });
  const legend = el("ul", { class: "legend" });
  parts.forEach(([name, v], i) => {
    const share = total ? (v / total) * 100 : 0;
    const part = el("span", { title: `${name} ${share.toFixed(1)}%` });
    part.style.width = `${share}%`;
    part.style.background = COLORS[i % COLORS.length];
    bar.append(part);
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = COLORS[i % COLORS.length];
    legend.append(el("li", {}, swatch, `${name}: ${share.toFixed(1)}% (${usd(v)})`));
  });
  box.replaceChildren(bar, legend);
}

async function load() {
  const portfolio = await api("/api/v1/portfolio");
  cash = Number(portfolio.usd_balance);
  holdings = portfolio.assets.map((a) => ({
    id: a.asset_id, qty: Number(a.quantity), price: Number(a.current_price),
    value: Number(a.market_value), cost: Number(a.average_cost),
  }));
  render();
  const chosen = picker.value;
  picker.replaceChildren(...holdings.map((h) => el("option", { value: h.id, text: h.id })));
  if (chosen && holdings.some((h) => h.id === chosen)) picker.value = chosen;
  await trades();
}

async function trades() {
  const table = document.querySelector("#trades tbody");
  if (!picker.value) { table.replaceChildren(); return; }
  const page = await api(`/api/v1/assets/${picker.value}/transactions?limit=20`);
  table.replaceChildren(...page.data.map((t) => el("tr", {},
    el("td", { text: time(t.timestamp) }), el("td", { text: t.transaction_type }),
    el("td", { class: "num", text: t.quantity }), el("td", { class: "num", text: price(t.price) }),
    el("td", { class: "num", text: usd(t.total) }))));
}

picker.addEventListener("change", trades);
onPrices((frame) => {
  let changed = false;
  for (const h of holdings) {
    const value = frame.prices[h.id];
    if (value === undefined) continue;
    h.price = value;
    h.value = Math.floor(h.qty * value * 100) / 100;
    changed = true;
  }
  if (changed) render();
});
document.addEventListener("account-event", (event) => {
  if (event.detail.type === "balance" || event.detail.event === "fill") load();
});
await load();
