// The join page: registration with the code filled in (register.js), or a signed-in join.
import "./register.js";
import { api, ApiError } from "./api.js";
import { url } from "./root.js";

const button = document.getElementById("join-button");
if (button) {
  const code = document.getElementById("join").dataset.code;
  const mine = await api("/api/v1/classes/mine");
  if (mine.data) {
    document.getElementById("join-state").textContent = `You are already in ${mine.data.name}.`;
    if (mine.data.code === code) button.hidden = true;
  }
  button.addEventListener("click", async () => {
    const error = document.getElementById("join-error");
    error.textContent = "";
    try {
      await api("/api/v1/classes/join", { method: "POST", body: { code } });
      location.assign(url("/class"));
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      error.textContent = failure.message;
    }
  });
}
