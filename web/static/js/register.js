// Registration: the server's own 422 messages land at their fields; success signs in.
import { api, handleForm } from "./api.js";
import { url } from "./root.js";

const form = document.getElementById("register-form");
handleForm(form, async (values) => {
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
  await api("/api/v1/auth/register", { method: "POST", body });
  await api("/api/v1/auth/session", {
    method: "POST",
    body: { username: values.username, password: values.password },
  });
  location.assign(url("/dashboard"));
});
