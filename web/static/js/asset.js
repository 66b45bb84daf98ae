// One asset: a live candlestick chart, every market figure, and the order ticket.
import { CandlestickSeries, createChart } from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { api } from "./api.js";
import { big, el, pct, price, sign, time } from "./fmt.js";
import { onPrices } from "./live.js";
import { openOrders } from "./openorders.js";
import { orderTicket } from "./ticket.js";

const root = document.getElementById("asset");
const id = root.dataset.asset;
const WIDTH = { "1m": 60, "5m": 300, "1h": 3600, "1d": 86400 };
const box = document.getElementById("candles");
const chart = createChart(box, {
  autoSize: true,
  layout: { attributionLogo: false },
  timeScale: { timeVisible: true, secondsVisible: false },
});
const series = chart.addSeries(CandlestickSeries, {
  upColor: "#2ea043", downColor: "#da3633", wickUpColor: "#2ea043", wickDownColor: "#da3633", borderVisible: false,
});
let interval = "5m";
let last = null; // the current (open) candle

async function loadCandles() {
  const answer = await api(`/api/v1/inventory/assets/${id}/candles?interval=${interval}&limit=300`);
  const data = answer.data.map((c) => ({ time: Date.parse(c.time) / 1000, open: c.open, high: c.high, low: c.low, close: c.close }));
  series.setData(data);
  last = data.length ? { ...data[data.length - 1] } : null;
  box.dataset.candles = String(data.length);
  chart.timeScale().fitContent();
}

for (const button of document.querySelectorAll("[data-interval]")) {
  button.addEventListener("click", async () => {
    interval = button.dataset.interval;
    for (const b of document.querySelectorAll("[data-interval]")) b.classList.toggle("outline", b !== button);
    await loadCandles();
  });
}

const FIELDS = [
  ["Symbol", (d) => d.asset_id], ["Category", (d) => d.category], ["Market cap rank", (d) => `#${d.market_cap_rank}`],
  ["Status", (d) => d.availability_status], ["Price", (d) => price(d.price_usd)],
  ["24h change", (d) => `${price(d.price_change_24h)} (${pct(d.price_change_percentage_24h)})`],
  ["7d change", (d) => pct(d.price_change_percentage_7d)], ["30d change", (d) => pct(d.price_change_percentage_30d)],
  ["24h high", (d) => price(d.high_24h)], ["24h low", (d) => price(d.low_24h)],
  ["Market cap", (d) => `$${big(d.market_cap)}`], ["24h volume", (d) => `$${big(d.total_volume_24h)}`],
  ["Circulating supply", (d) => big(d.circulating_supply)], ["Total supply", (d) => big(d.total_supply)],
  ["Max supply", (d) => (d.max_supply === null ? "No limit" : big(d.max_supply))],
  ["All-time high", (d) => `${price(d.ath)} on ${d.ath_date ? d.ath_date.slice(0, 10) : "—"} (${pct(d.ath_change_percentage)})`],
  ["All-time low", (d) => `${price(d.atl)} on ${d.atl_date ? d.atl_date.slice(0, 10) : "—"} (${pct(d.atl_change_percentage)})`],
  ["Last updated", (d) => time(d.last_updated)],
];

const detail = (await api(`/api/v1/inventory/assets/${id}`)).data;
document.getElementById("asset-name").textContent = `${detail.name} (${detail.asset_id})`;
document.getElementById("asset-description").textContent = detail.description;
document.getElementById("asset-fields").replaceChildren(...FIELDS.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", { text: value(detail) })]));
const priceView = document.getElementById("asset-price");
const changeView = document.getElementById("asset-change");
const reference = detail.price_usd / (1 + (detail.price_change_percentage_24h || 0) / 100);
function showPrice(value) {
  priceView.textContent = price(value);
  const change = (value / reference - 1) * 100;
  changeView.textContent = pct(change);
  sign(changeView, change);
}
showPrice(detail.price_usd);
await loadCandles();

onPrices((frame) => {
  const value = frame.prices[id];
  if (value === undefined || !last) return;
  showPrice(value);
  const bucket = Math.floor(Date.parse(frame.time) / 1000 / WIDTH[interval]) * WIDTH[interval];
  if (bucket > last.time) last = { time: bucket, open: last.close, high: value, low: value, close: value };
  else if (bucket === last.time) last = { ...last, high: Math.max(last.high, value), low: Math.min(last.low, value), close: value };
  else return;
  series.update(last);
  box.dataset.lastCandle = `${last.time} ${last.close}`;
});

const openTable = document.getElementById("open-orders");
const reload = openTable ? openOrders(openTable) : null;
await orderTicket({ onPlaced: reload || undefined });
