// The account: deposit and withdraw within today's limits, and the cash ledger.
import { api, handleForm } from "./api.js";
import { el, time, usd } from "./fmt.js";
import { pager } from "./pager.js";

const figure = (name) => document.querySelector(`[data-figure="${name}"]`);
const filter = document.getElementById("tx-filter");
const body = document.querySelector("#transactions tbody");

async function loadCash() {
  const [portfolio, limits] = await Promise.all([api("/api/v1/portfolio"), api("/api/v1/balance/limits")]);
  figure("cash").textContent = usd(portfolio.usd_balance);
  figure("available").textContent = usd(portfolio.available_usd);
  for (const kind of ["deposit", "withdraw"]) {
    const limit = limits[kind];
    document.querySelector(`[data-limit="${kind}"]`).textContent =
      `Daily limit ${usd(limit.limit)}: ${usd(limit.used)} used today, ${usd(limit.remaining)} remaining.`;
  }
}

const pages = pager(document.querySelector('nav[aria-label="Transaction pages"]'), 20, async (offset, limit) => {
  const query = new URLSearchParams({ limit, offset });
  const kind = filter.elements.transaction_type.value;
  if (kind) query.set("transaction_type", kind);
  const page = await api(`/api/v1/balance/transactions?${query}`);
  body.replaceChildren(...page.transactions.map((t) => el("tr", {},
    el("td", { text: time(t.created_at) }), el("td", { text: t.transaction_type }),
    el("td", { class: "num", text: usd(t.amount) }), el("td", { text: t.description }))));
  if (!page.transactions.length) body.append(el("tr", {}, el("td", { colspan: "4", text: "No transactions." })));
  return { total: page.total_count, hasMore: page.has_more };
});
filter.addEventListener("change", () => pages.reset());

for (const form of [document.getElementById("deposit-form"), document.getElementById("withdraw-form")]) {
  handleForm(form, async (values) => {
    const answer = await api(`/api/v1/balance/${form.dataset.action}`, { method: "POST", body: { amount: values.amount } });
    form.reset();
    form.querySelector('[data-error-for="form"]').textContent = "";
    form.append(el("p", { class: "good", role: "status", text: answer.message }));
    await Promise.all([loadCash(), pages.reset()]);
  });
}
document.addEventListener("account-event", (event) => { if (event.detail.type === "balance") loadCash(); });
await Promise.all([loadCash(), pages.show()]);
