// The JSON API: GETs go with the cookie (and the token, when this tab has it),
// POSTs need the token in the Authorization header (never the cookie alone).
const KEY = "facewatchd-token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The address `facewatchctl web` prints carries ?token=: keep it for this tab, and
// take it out of the address bar (and so out of screenshots and history).
export function takeToken() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token) {
    sessionStorage.setItem(KEY, token);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
}

export const hasToken = () => Boolean(sessionStorage.getItem(KEY));
export const setToken = (token) => sessionStorage.setItem(KEY, token.trim());

function headers(extra = {}) {
  const token = sessionStorage.getItem(KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = body?.error ?? { code: "http_" + response.status, message: response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return body;
}

export async function get(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const qs = query.toString();
  return answer(await fetch(qs ? `${path}?${qs}` : path, { headers: headers(), credentials: "same-origin" }));
}

export async function post(path, body = {}) {
  if (!hasToken()) throw new ApiError(401, "no_token", "this tab has no token");
  return answer(await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  }));
}
