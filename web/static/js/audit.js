// The audit log, for admins.
import { api, showErrors } from "./api.js";
import { el, time } from "./fmt.js";

try {
  const page = await api("/api/v1/admin/audit?limit=100");
  document.querySelector("#audit tbody").replaceChildren(...page.data.map((e) => el("tr", {},
    el("td", { text: time(e.time) }), el("td", { text: e.event }), el("td", { text: e.username || "—" }),
    el("td", { text: e.ip || "—" }), el("td", { text: e.detail }))));
} catch (error) {
  showErrors(document.querySelector("main"), error);
}
