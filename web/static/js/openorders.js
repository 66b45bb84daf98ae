// The open-orders table with cancel buttons, kept current by the account stream.
import { api } from "./api.js";
import { describeOrder, el, hasLimit, price, usd } from "./fmt.js";

export function openOrders(table) {
  const body = table.querySelector("tbody");

  async function load() {
    const page = await api("/api/v1/orders?status=pending&limit=100");
    body.replaceChildren(
      ...page.data.map((order) => {
        const cancel = el("button", { type: "button", class: "outline secondary", text: "Cancel" });
        cancel.setAttribute("aria-label", `Cancel ${describeOrder(order)}`);
        cancel.addEventListener("click", async () => {
          cancel.setAttribute("aria-busy", "true");
          try {
            await api(`/api/v1/orders/${order.order_id}`, { method: "DELETE" });
          } finally {
            await load();
          }
        });
        const level = order.stop_price ? `stop ${price(order.stop_price)}` : hasLimit(order) && order.price ? `limit ${price(order.price)}` : "";
        const qty = Number(order.quantity);
        const reserve = order.order_type.endsWith("_buy")
          ? usd(Math.ceil(qty * Number(order.price || order.stop_price) * 100 - 1e-6) / 100)
          : `${order.quantity} ${order.asset_id}`;
        return el("tr", { "data-order": order.order_id },
          el("td", { text: `${describeOrder(order)} (${order.time_in_force})` }),
          el("td", { text: `${reserve} reserved, ${level}` }),
          el("td", {}, cancel));
      }),
    );
    if (!page.data.length) body.append(el("tr", {}, el("td", { colspan: "3", text: "No open orders." })));
  }

  document.addEventListener("account-event", (event) => {
    if (event.detail.type === "order") load();
  });
  load();
  return load;
}
