// The student's class: rank and the leaderboard when the class shows them, its rules, headlines.
import { api, handleForm } from "./api.js";
import { el, pct, time, usd } from "./fmt.js";
import { onNews } from "./live.js";
import { describeRules } from "./rules.js";

const news = document.getElementById("news-list");

function headlineItem(item) {
  return el("li", {}, el("strong", { text: item.headline }), ` · ${time(item.time)}`);
}

async function loadNews() {
  const page = await api("/api/v1/news?limit=10");
  news.replaceChildren(...page.data.map(headlineItem));
  if (!page.data.length) news.append(el("li", { text: "No headlines yet." }));
}
onNews((item) => {
  if (news.firstElementChild && !news.querySelector("strong")) news.replaceChildren();
  news.prepend(headlineItem(item));
  while (news.children.length > 10) news.lastElementChild.remove();
});

async function load() {
  const mine = await api("/api/v1/classes/mine");
  document.getElementById("no-class").hidden = Boolean(mine.data);
  document.getElementById("in-class").hidden = !mine.data;
  if (!mine.data) return;
  const info = mine.data;
  document.getElementById("class-title").textContent = info.name;
  document.getElementById("class-info").textContent = `Class ${info.code} · ${info.status} · teacher ${info.teacher} · ${info.students} students`;
  document.getElementById("class-rules").textContent = `Rules: ${describeRules(info.rules)}.`;
  const s = mine.standing;
  document.getElementById("my-rank").textContent = s ? `${s.rank} of ${info.students}` : info.rules.leaderboard_visible ? "—" : "hidden";
  document.getElementById("my-total").textContent = s ? usd(s.total_value) : "—";
  document.getElementById("my-return").textContent = s ? pct(s.return_pct) : "—";
  document.getElementById("my-trades").textContent = s ? String(s.trades) : "—";
  const box = document.getElementById("board-box");
  box.hidden = !info.rules.leaderboard_visible;
  if (info.rules.leaderboard_visible) {
    const board = await api(`/api/v1/classes/${info.class_id}/leaderboard?limit=10`);
    document.querySelector("#board tbody").replaceChildren(...board.data.map((row) => el("tr", {},
      el("td", { text: String(row.rank) }), el("td", { text: row.username }),
      el("td", { class: "num", text: usd(row.total_value) }), el("td", { class: "num", text: pct(row.return_pct) }),
      el("td", { class: "num", text: String(row.trades) }))));
  }
}

handleForm(document.getElementById("join-form"), async (values) => {
  await api("/api/v1/classes/join", { method: "POST", body: { code: values.code } });
  await load();
});

await Promise.all([load(), loadNews()]);
setInterval(load, 5000);
