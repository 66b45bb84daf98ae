// Orders: open orders with cancel, and the history with filters and paging.
import { api, showErrors, clearErrors } from "./api.js";
import { describeOrder, el, price, time } from "./fmt.js";
import { openOrders } from "./openorders.js";
import { pager } from "./pager.js";

openOrders(document.getElementById("open-orders"));
const filter = document.getElementById("history-filter");
const body = document.querySelector("#order-history tbody");
const errors = filter.parentElement;

const pages = pager(document.querySelector('nav[aria-label="Order pages"]'), 20, async (offset, limit) => {
  const query = new URLSearchParams({ limit, offset });
  for (const name of ["asset_id", "status", "order_type"]) {
    const value = filter.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  clearErrors(errors);
  try {
    const page = await api(`/api/v1/orders?${query}`);
    body.replaceChildren(...page.data.map((o) => el("tr", {},
      el("td", { text: time(o.created_at) }),
      el("td", { text: describeOrder(o) }),
      // With price impact on, the fill says how much of its price was impact.
      el("td", { class: "num", text: o.fill_explanation
        || (o.filled_price ? `${price(o.filled_price)} (tick #${o.filled_tick_seq})` : "—") }),
      el("td", { text: o.reason ? `${o.status}: ${o.reason}` : o.status }))));
    if (!page.data.length) body.append(el("tr", {}, el("td", { colspan: "4", text: "No orders match." })));
    return { total: page.total_count, hasMore: page.has_more };
  } catch (error) {
    showErrors(errors, error);
    body.replaceChildren();
    return { total: 0, hasMore: false };
  }
});
filter.addEventListener("change", () => pages.reset());
filter.addEventListener("submit", (event) => { event.preventDefault(); pages.reset(); });
document.addEventListener("account-event", (event) => { if (event.detail.type === "order") pages.show(); });
await pages.show();
