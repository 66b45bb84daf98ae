// The profile: every field shown, and the editable ones saved through PUT /auth/profile.
import { api, handleForm } from "./api.js";
import { el, time } from "./fmt.js";

const form = document.getElementById("profile-form");
const view = document.getElementById("profile-view");
const EDITABLE = ["first_name", "last_name", "email", "phone", "date_of_birth"];

function show(profile) {
  const rows = [
    ["Username", profile.username], ["Email", profile.email], ["Name", `${profile.first_name} ${profile.last_name}`],
    ["Phone", profile.phone || "—"], ["Date of birth", profile.date_of_birth || "—"],
    ["Marketing emails", profile.marketing_emails_consent ? "Yes" : "No"], ["Role", profile.role],
    ["Member since", time(profile.created_at)], ["Last updated", time(profile.updated_at)],
  ];
  view.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  for (const name of EDITABLE) form.elements[name].value = profile[name] || "";
  form.elements.marketing_emails_consent.checked = profile.marketing_emails_consent;
}

handleForm(form, async (values) => {
  const body = {};
  for (const name of EDITABLE) body[name] = values[name];
  if (!body.phone) body.phone = null;
  if (!body.date_of_birth) body.date_of_birth = null;
  body.marketing_emails_consent = values.marketing_emails_consent;
  const answer = await api("/api/v1/auth/profile", { method: "PUT", body });
  show(answer.user);
  document.getElementById("profile-result").textContent = answer.message;
});
show(await api("/api/v1/auth/profile"));
