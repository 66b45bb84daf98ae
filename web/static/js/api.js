// Calls to the JSON API with the session cookie and its CSRF token, and errors shown at fields.
import { url } from "./root.js";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.detail;
    super(typeof detail === "string" ? detail : `Request failed (${status})`);
    this.status = status;
    this.code = body && body.code;
    this.detail = detail;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// ``path`` is a path of this site (``/api/v1/...``); the prefix is added here.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(url(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && document.body.dataset.user) {
      // The session ended (logout elsewhere, expiry): sign in again and come back here.
      location.assign(url(`/login?next=${encodeURIComponent(location.pathname + location.search)}`));
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for]")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

// Place each of a 422's messages at its field; anything else goes to the form's own line.
export function showErrors(form, error) {
  clearErrors(form);
  const general = form.querySelector('[data-error-for="form"]');
  if (Array.isArray(error.detail)) {
    const unplaced = [];
    for (const item of error.detail) {
      const name = item.loc[item.loc.length - 1];
      const slot = form.querySelector(`[data-error-for="${name}"]`);
      if (slot) {
        slot.textContent = slot.textContent ? `${slot.textContent} ${item.msg}` : item.msg;
        const input = form.querySelector(`[name="${name}"]`);
        if (input) input.setAttribute("aria-invalid", "true");
      } else {
        unplaced.push(item.msg);
      }
    }
    if (general) general.textContent = unplaced.join(" ");
    const first = form.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  } else if (general) {
    general.textContent = error.message;
  }
}

export function formValues(form) {
  const values = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    values[el.name] = el.type === "checkbox" ? el.checked : el.value.trim();
  }
  return values;
}

// Run a form's submit through ``action``; errors land at their fields.
export function handleForm(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector('button[type="submit"]');
    if (button) button.setAttribute("aria-busy", "true");
    try {
      await action(formValues(form));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showErrors(form, error);
    } finally {
      if (button) button.removeAttribute("aria-busy");
    }
  });
}

// POST a request whose answer is a file (a CSV of logins): save it under ``filename``.
// A refusal is thrown as an ApiError, as ``api`` does, so a form can place its messages.
export async function download(path, filename, body) {
  const headers = { "X-CSRF-Token": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(path), {
    method: "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}
