// The teacher console: the live scenario (when the server plays one), the teacher's classes and
// the form for a new class.
import { api, handleForm } from "./api.js";
import { el } from "./fmt.js";
import { url } from "./root.js";
import { rulesBody } from "./rules.js";
import { startScenario } from "./scenario.js";

const table = document.querySelector("#classes tbody");

async function load() {
  const classes = (await api("/api/v1/classes")).data;
  table.replaceChildren(...classes.map((item) => el("tr", {},
    el("td", {}, el("a", { href: url(`/teacher/classes/${item.class_id}`), text: item.name })),
    el("td", { class: "code", text: item.code }),
    el("td", { text: item.status }),
    el("td", { class: "num", text: String(item.students) }))));
  if (!classes.length) table.append(el("tr", {}, el("td", { colspan: "4", text: "No classes yet." })));
}

handleForm(document.getElementById("class-form"), async (values) => {
  const created = (await api("/api/v1/classes", {
    method: "POST",
    body: { name: values.name, rules: rulesBody(values) },
  })).data;
  location.assign(url(`/teacher/classes/${created.class_id}`));
});

const scenario = document.getElementById("scenario");
if (scenario) startScenario(scenario);
load();
