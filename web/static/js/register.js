// Registration (also on a class's join page): the server's 422 messages land at their
// fields; success signs in.
import { api, handleForm } from "./api.js";
import { url } from "./root.js";

const form = document.getElementById("register-form");
if (form) handleForm(form, async (values) => {
  const body = {
    username: values.username,
    email: values.email,
    password: values.password,
    first_name: values.first_name,
    last_name: values.last_name,
    marketing_emails_consent: values.marketing_emails_consent,
  };
  if (values.phone) body.phone = values.phone;
  if (values.date_of_birth) body.date_of_birth = values.date_of_birth;
  if (values.class_code) body.class_code = values.class_code;
  await api("/api/v1/auth/register", { method: "POST", body });
  await api("/api/v1/auth/session", {
    method: "POST",
    body: { username: values.username, password: values.password },
  });
  location.assign(form.dataset.next);
});
