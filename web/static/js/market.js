// The market: every asset, sortable, filterable and paged, its prices live from /ws/prices.
import { api } from "./api.js";
import { big, el, pct, price, sign } from "./fmt.js";
import { onPrices } from "./live.js";
import { url } from "./root.js";
import { sparkline } from "./sparkline.js";

const params = new URLSearchParams(location.search);
const perPage = params.get("per") === "all" ? Infinity : Number(params.get("per")) || 25;
const table = document.querySelector("#market tbody");
const filter = document.getElementById("market-filter");
const pageInfo = document.getElementById("page-info");
const state = { sort: "rank", descending: false, page: 0, query: "", category: "" };
// Per-tick figures for the tick-to-screen benchmark: seq, server time, shown at, script ms.
const stats = (window.__tickStats = []);

const [list, lines] = await Promise.all([
  api("/api/v1/inventory/assets?limit=250"),
  api("/api/v1/inventory/sparklines?points=42"),
]);
const assets = list.data.map((a) => {
  const row = el("tr", { "data-asset": a.asset_id });
  const priceCell = el("td", { class: "num", "data-cell": "price", text: price(a.price_usd) });
  const changeCell = el("td", { class: "num", "data-cell": "change", text: pct(a.price_change_percentage_24h) });
  sign(changeCell, a.price_change_percentage_24h);
  const link = el("a", { href: url(`/assets/${a.asset_id}`) }, el("img", { src: a.image, alt: "", width: "20", height: "20" }), ` ${a.name} `, el("small", { text: a.asset_id }));
  row.append(
    el("td", { text: String(a.market_cap_rank) }),
    el("td", {}, link),
    el("td", { class: "hide-small", text: a.category }),
    priceCell,
    changeCell,
    el("td", { class: "num hide-small", text: big(a.market_cap) }),
    el("td", { class: "hide-small" }, sparkline(lines.data[a.asset_id], { label: `${a.name} over 7 days` })),
  );
  return {
    id: a.asset_id,
    name: a.name,
    category: a.category,
    rank: a.market_cap_rank,
    price: a.price_usd,
    change: a.price_change_percentage_24h ?? 0,
    cap: a.market_cap ?? 0,
    reference: a.price_usd / (1 + (a.price_change_percentage_24h || 0) / 100),
    supply: a.market_cap ? a.market_cap / a.price_usd : 0,
    row,
    priceCell,
    changeCell,
  };
});
const byId = new Map(assets.map((a) => [a.id, a]));

const categories = [...new Set(assets.map((a) => a.category))].sort();
const select = filter.elements.category;
for (const c of categories) select.append(el("option", { value: c, text: c }));

function visible() {
  const q = state.query.toLowerCase();
  let rows = assets.filter(
    (a) => (!q || a.name.toLowerCase().includes(q) || a.id.toLowerCase().includes(q)) && (!state.category || a.category === state.category),
  );
  const key = state.sort;
  rows = rows.sort((x, y) => {
    const a = x[key];
    const b = y[key];
    const order = typeof a === "string" ? a.localeCompare(b) : a - b;
    return state.descending ? -order : order;
  });
  return rows;
}

function render() {
  const rows = visible();
  const pages = Math.max(1, Math.ceil(rows.length / perPage));
  state.page = Math.min(state.page, pages - 1);
  const start = state.page * (Number.isFinite(perPage) ? perPage : 0);
  const shown = Number.isFinite(perPage) ? rows.slice(start, start + perPage) : rows;
  table.replaceChildren(...shown.map((a) => a.row));
  pageInfo.textContent = `Page ${state.page + 1} of ${pages} (${rows.length} assets)`;
  document.querySelector('[data-page="prev"]').disabled = state.page === 0;
  document.querySelector('[data-page="next"]').disabled = state.page >= pages - 1;
  for (const button of document.querySelectorAll("button.sort")) {
    const active = button.dataset.sort === state.sort;
    button.closest("th").setAttribute("aria-sort", active ? (state.descending ? "descending" : "ascending") : "none");
  }
}

filter.addEventListener("input", () => {
  state.query = filter.elements.q.value.trim();
  state.category = select.value;
  state.page = 0;
  render();
});
filter.addEventListener("submit", (event) => event.preventDefault());
for (const button of document.querySelectorAll("button.sort")) {
  button.addEventListener("click", () => {
    const key = button.dataset.sort;
    state.descending = state.sort === key ? !state.descending : key !== "rank" && key !== "name";
    state.sort = key;
    render();
  });
}
document.querySelector('[data-page="prev"]').addEventListener("click", () => { state.page -= 1; render(); });
document.querySelector('[data-page="next"]').addEventListener("click", () => { state.page += 1; render(); });
render();

// Two class names per direction with the same animation: switching between them restarts it
// without forcing a layout.
const FLASH = { true: ["flash-up-a", "flash-up-b"], false: ["flash-down-a", "flash-down-b"] };

function flash(asset, rising) {
  const [a, b] = FLASH[rising];
  const next = asset.flash === a ? b : a;
  if (asset.flash) asset.priceCell.classList.remove(asset.flash);
  asset.priceCell.classList.add(next);
  asset.flash = next;
}

onPrices((frame) => {
  const began = performance.now();
  for (const [id, value] of Object.entries(frame.prices)) {
    const asset = byId.get(id);
    if (!asset || value === asset.price) continue;
    const rising = value > asset.price;
    asset.price = value;
    asset.change = (value / asset.reference - 1) * 100;
    if (asset.supply) asset.cap = asset.supply * value;
    if (!asset.row.isConnected) continue;
    asset.priceCell.textContent = price(value);
    asset.changeCell.textContent = pct(asset.change);
    sign(asset.changeCell, asset.change);
    flash(asset, rising);
  }
  const scriptMs = performance.now() - began;
  if (frame.type === "tick") {
    const entry = { seq: frame.seq, serverTime: Date.parse(frame.time), scriptMs, paintedAt: null };
    // The next frame is the first that can show the new cells.
    requestAnimationFrame(() => { entry.paintedAt = performance.timeOrigin + performance.now(); });
    stats.push(entry);
    if (stats.length > 2000) stats.shift();
  }
});
