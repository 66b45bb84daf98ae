// The dashboard: balances, total value with its 24h change, equity curve, orders, insight.
import { AreaSeries, createChart } from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { api, handleForm } from "./api.js";
import { describeOrder, el, pct, sign, time, usd } from "./fmt.js";

const figure = (name) => document.querySelector(`[data-figure="${name}"]`);
const box = document.getElementById("equity");
const chart = createChart(box, { autoSize: true, layout: { attributionLogo: false }, timeScale: { timeVisible: true } });
const curve = chart.addSeries(AreaSeries, { lineColor: "#1e6f5c", topColor: "rgba(30,111,92,0.35)", bottomColor: "rgba(30,111,92,0.02)" });

async function loadCurve(period) {
  const history = await api(`/api/v1/portfolio/history?period=${period}`);
  curve.setData(history.data.map((p) => ({ time: Math.floor(Date.parse(p.time) / 1000), value: Number(p.total_value) })));
  box.dataset.points = String(history.data.length);
  chart.timeScale().fitContent();
}

async function loadFigures() {
  const [portfolio, day] = await Promise.all([api("/api/v1/portfolio"), api("/api/v1/portfolio/history?period=1d")]);
  figure("cash").textContent = usd(portfolio.usd_balance);
  figure("reserved").textContent = usd(portfolio.reserved_usd);
  figure("available").textContent = usd(portfolio.available_usd);
  figure("holdings").textContent = usd(portfolio.total_asset_value);
  figure("total").textContent = usd(portfolio.total_value);
  // Gains and losses over the day, deposits and withdrawals left out.
  const change = Number(day.data[day.data.length - 1].profit_loss);
  const base = Number(day.base_value);
  figure("change").textContent = base ? `${usd(change)} (${pct((change / base) * 100)}) in 24h` : `${usd(change)} in 24h`;
  sign(figure("change"), change);
}

async function loadOrders() {
  const page = await api("/api/v1/orders?limit=8");
  const body = document.querySelector("#recent-orders tbody");
  body.replaceChildren(...page.data.map((o) => el("tr", {}, el("td", { text: time(o.created_at) }), el("td", { text: describeOrder(o) }), el("td", { text: o.status }))));
  if (!page.data.length) body.append(el("tr", {}, el("td", { colspan: "3", text: "No orders yet." })));
}

async function loadInsight() {
  const answer = await api("/api/v1/insights/portfolio");
  document.getElementById("insight").textContent = answer.data.summary;
}

let period = "7d";
for (const button of document.querySelectorAll("[data-period]")) {
  button.addEventListener("click", () => {
    period = button.dataset.period;
    for (const b of document.querySelectorAll("[data-period]")) b.classList.toggle("outline", b !== button);
    loadCurve(period);
  });
}

handleForm(document.getElementById("claim-form"), async (values) => {
  const answer = await api("/api/v1/cny/claim", { method: "POST", body: { phrase: values.phrase } });
  document.getElementById("claim-result").textContent = answer.message;
  await loadFigures();
});

document.addEventListener("account-event", (event) => {
  if (event.detail.type === "balance") loadFigures();
  if (event.detail.type === "order") loadOrders();
});
setInterval(loadFigures, 30000); // holdings are revalued as prices move

await Promise.all([loadFigures(), loadCurve(period), loadOrders(), loadInsight()]);
