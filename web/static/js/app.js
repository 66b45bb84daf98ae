// On every page: the log-out button, the headline banner, notices for the account's events.
import { api } from "./api.js";
import { describeOrder, el, price } from "./fmt.js";
import { onAccount, onNews } from "./live.js";
import { url } from "./root.js";

export function notice(text, kind = "info") {
  const box = document.getElementById("notices");
  const item = el("div", { class: `notice ${kind}`, text });
  const close = el("button", { type: "button", class: "close", "aria-label": "Dismiss", text: "×" });
  close.addEventListener("click", () => item.remove());
  item.append(close);
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => item.remove(), 12000);
}

// Why an order ended where it did, in words.
export function orderNotice(event) {
  const order = event.order;
  const what = describeOrder(order);
  switch (event.event) {
    case "fill":
      return [`Filled: ${what} at ${price(order.filled_price)} on tick #${order.filled_tick_seq}.`, "good"];
    case "cancelled":
      return [`Cancelled: ${what}${order.reason ? ` (${order.reason})` : ""}.`, "info"];
    case "expired":
      return [`Expired: ${what}.`, "warn"];
    case "rejected":
      return [`Rejected: ${what}${order.reason ? `: ${order.reason}` : ""}.`, "bad"];
    default:
      return null;
  }
}

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    try {
      await api("/api/v1/auth/session", { method: "DELETE" });
    } finally {
      location.assign(url("/login"));
    }
  });
}

if (document.body.dataset.user) {
  onAccount((event) => {
    if (event.type === "order") {
      const said = orderNotice(event);
      if (said) notice(...said);
    }
    document.dispatchEvent(new CustomEvent("account-event", { detail: event }));
  });
}

// A new headline, from any teacher's action, as a banner at the top of every page.
const banner = document.getElementById("headline");
onNews((item) => {
  const dismiss = el("button", { type: "button", class: "close", "aria-label": "Dismiss headline", text: "×" });
  dismiss.addEventListener("click", () => { banner.hidden = true; });
  banner.replaceChildren(el("strong", { text: "Headline: " }), el("span", { text: item.headline }), dismiss);
  banner.hidden = false;
});

// The review desk's decision on one of the student's orders, with the teacher's note.
document.addEventListener("account-event", (event) => {
  const review = event.detail;
  if (review.type !== "review") return;
  const verb = review.decision === "approved" ? "Approved" : "Rejected";
  notice(`${verb} by the teacher: ${describeOrder(review.order)}${review.note ? ` (${review.note})` : ""}.`, review.decision === "approved" ? "good" : "bad");
});
