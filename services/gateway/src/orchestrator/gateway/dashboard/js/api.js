// The REST side: the token for this tab, fetch with it, and the error envelope as an exception.

import { toast } from "./dom.js";

const TOKEN_KEY = "orchestrator.token";
let tokenRequired = false;
let asking = null;

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export class Unreachable extends Error {}

export function token() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export async function loadConfig() {
  const response = await fetch("/dashboard/config.json", { cache: "no-store" });
  const config = await response.json();
  tokenRequired = Boolean(config.token_required);
  if (tokenRequired && !token()) await askToken(false);
  return config;
}

// Asks once; every caller waiting on a 401 shares the same question.
export function askToken(refused) {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  document.getElementById("token-error").hidden = !refused;
  asking = new Promise((resolve) => {
    const done = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      window.sessionStorage.setItem(TOKEN_KEY, value);
      form.removeEventListener("submit", done);
      dialog.close();
      input.value = "";
      asking = null;
      resolve(value);
    };
    form.addEventListener("submit", done);
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    dialog.showModal();
    input.focus();
  });
  return asking;
}

export async function request(method, path, { body, text = false } = {}) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const headers = { Accept: text ? "*/*" : "application/json" };
    const current = token();
    if (current) headers.Authorization = `Bearer ${current}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (error) {
      throw new Unreachable(`The gateway cannot be reached (${error.message})`);
    }
    if (response.status === 401) {
      await askToken(Boolean(current));
      continue;
    }
    if (!response.ok) {
      let envelope = null;
      try {
        envelope = (await response.json()).error;
      } catch (_) {
        envelope = null;
      }
      throw new ApiError(
        response.status,
        envelope?.code || `HTTP_${response.status}`,
        envelope?.message || response.statusText,
        envelope?.details,
      );
    }
    return text ? response.text() : response.json();
  }
  throw new ApiError(401, "UNAUTHORIZED", "The token was refused");
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body) => request("POST", path, { body });

// A view's read: the body, or null once an error envelope was shown as a toast (an unreachable
// gateway is the banner's to show).
export async function loadOrToast(path) {
  try {
    return await get(path);
  } catch (error) {
    if (error instanceof ApiError) toast(error.message, "error");
    return null;
  }
}
