// Number formatting shared by the pages.

const usdFormat = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

export function usd(value) {
  return value === null || value === undefined ? "—" : usdFormat.format(Number(value));
}

// One formatter per precision, made once: building them is what costs, not using them.
const priceFormats = new Map(
  [2, 4, 6, 8].map((digits) => [digits, new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: digits })]),
);

export function price(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "—";
  const digits = n >= 1000 ? 2 : n >= 1 ? 4 : n >= 0.01 ? 6 : 8;
  return "$" + priceFormats.get(digits).format(n);
}

export function pct(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
  const n = Number(value);
  return `${n > 0 ? "+" : ""}${n.toFixed(2)}%`;
}

export function big(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: 0 });
}

export function time(iso) {
  return iso ? new Date(iso).toLocaleString("en-GB", { hour12: false }) : "—";
}

export function sign(el, value) {
  el.classList.toggle("up", Number(value) > 0);
  el.classList.toggle("down", Number(value) < 0);
}

export function orderName(type) {
  return type.replaceAll("_", " ");
}

// Only limit and stop-limit orders have a limit: a filled market or stop order's `price` is
// where it executed (the API shows the execution price there, as the seed platform did).
export function hasLimit(order) {
  return order.order_type.startsWith("limit_") || order.order_type.startsWith("stop_limit_");
}

// One order in words: "limit buy 0.01 ETH limit $2,400.00".
export function describeOrder(order) {
  let text = `${orderName(order.order_type)} ${order.quantity} ${order.asset_id}`;
  if (order.stop_price) text += ` stop ${price(order.stop_price)}`;
  if (hasLimit(order) && order.price) text += ` limit ${price(order.price)}`;
  return text;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
