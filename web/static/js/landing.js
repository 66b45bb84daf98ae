// The landing page's live ticker of the top assets.
import { api } from "./api.js";
import { el, pct, price, sign } from "./fmt.js";
import { onPrices } from "./live.js";
import { url } from "./root.js";

const body = document.querySelector("#ticker tbody");
const rows = new Map();

const list = await api("/api/v1/inventory/assets?limit=10");
for (const asset of list.data) {
  const reference = asset.price_usd / (1 + (asset.price_change_percentage_24h || 0) / 100);
  const priceCell = el("td", { class: "num", text: price(asset.price_usd) });
  const changeCell = el("td", { class: "num", text: pct(asset.price_change_percentage_24h) });
  sign(changeCell, asset.price_change_percentage_24h);
  const link = el("a", { href: url(`/assets/${asset.asset_id}`), text: `${asset.name} (${asset.asset_id})` });
  body.append(el("tr", {}, el("td", {}, link), priceCell, changeCell));
  rows.set(asset.asset_id, { priceCell, changeCell, reference });
}
onPrices((frame) => {
  for (const [id, value] of Object.entries(frame.prices)) {
    const row = rows.get(id);
    if (!row) continue;
    row.priceCell.textContent = price(value);
    const change = (value / row.reference - 1) * 100;
    row.changeCell.textContent = pct(change);
    sign(row.changeCell, change);
  }
});
