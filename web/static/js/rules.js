// The class rules form: its values as the API's rules body, and a class's rules put back in it.

const TEXT = ["starting_cash", "max_order_value", "review_above"];
const INTS = ["fee_bps", "max_position_pct", "orders_per_minute"];
const LISTS = ["allowed_assets", "allowed_categories"];
const TIMES = ["opens_at", "closes_at"];
const FLAGS = ["deposits_allowed", "withdrawals_allowed", "leaderboard_visible"];

function list(text) {
  return text.split(/[,\s]+/).map((item) => item.trim()).filter(Boolean);
}

// Blank fields are left out, so the server applies the rule's default.
export function rulesBody(values) {
  const rules = {};
  for (const name of TEXT) if (values[name]) rules[name] = values[name];
  for (const name of INTS) if (values[name]) rules[name] = /^-?\d+$/.test(values[name]) ? Number(values[name]) : values[name];
  if (values.allowed_assets) rules.allowed_assets = list(values.allowed_assets.toUpperCase());
  if (values.allowed_categories) rules.allowed_categories = list(values.allowed_categories);
  for (const name of TIMES) if (values[name]) rules[name] = new Date(values[name]).toISOString();
  for (const name of FLAGS) rules[name] = values[name];
  return rules;
}

function localInput(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

export function fillRules(form, rules) {
  for (const name of [...TEXT, ...INTS]) form.elements[name].value = rules[name] ?? "";
  for (const name of LISTS) form.elements[name].value = rules[name] ? rules[name].join(", ") : "";
  for (const name of TIMES) form.elements[name].value = localInput(rules[name]);
  for (const name of FLAGS) form.elements[name].checked = Boolean(rules[name]);
}

// The rules in words, for a student or the console's summary.
export function describeRules(rules) {
  const parts = [`starting cash $${rules.starting_cash}`, `fee ${rules.fee_bps} bps`];
  parts.push(rules.allowed_assets || rules.allowed_categories
    ? `assets: ${[...(rules.allowed_assets || []), ...(rules.allowed_categories || [])].join(", ")}`
    : "every asset");
  if (rules.max_order_value) parts.push(`max order $${rules.max_order_value}`);
  if (rules.max_position_pct) parts.push(`at most ${rules.max_position_pct}% of equity in one asset`);
  parts.push(`${rules.orders_per_minute} orders a minute`);
  if (rules.review_above) parts.push(`orders above $${rules.review_above} are reviewed`);
  return parts.join(" · ");
}
