// The sign-in form: opens a browser session and goes back where the visitor was heading.
import { api, handleForm } from "./api.js";
import { url } from "./root.js";

const form = document.getElementById("login-form");
handleForm(form, async (values) => {
  await api("/api/v1/auth/session", {
    method: "POST",
    body: { username: values.username, password: values.password },
  });
  location.assign(form.dataset.next || url("/dashboard"));
});
