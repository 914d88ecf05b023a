// Settings: every setting grouped as the configuration file groups them, each a field
// typed as its value is. A change is sent as typed; the daemon checks it by the file's
// own rules and, when it refuses, its message shows beside the field and the field is
// put back. A setting changed at run time can be reset to the file's value.
import { get, post, ApiError } from "./api.js";
import { el, when, whenShort, toast } from "./ui.js";

const shown = new Map(); // key → the fields showing it (the Settings view, a People card)
let counter = 0; // for the fields' ids: keys hold dots, person names spaces

export async function showSettings(root, { failed }) {
  const rows = await get("/api/settings");
  const groups = [];
  for (const row of rows) {
    const title = groupOf(row.key);
    if (groups.at(-1)?.title !== title) groups.push({ title, rows: [] });
    groups.at(-1).rows.push(row);
  }
  root.replaceChildren(...groups.map((group) => el("section", { class: "card settings-group", dataset: { group: group.title } },
    el("h3", {}, el("code", { text: group.title })),
    GROUP_HINTS[group.title] ? el("p", { class: "hint", text: GROUP_HINTS[group.title] }) : null,
    group.rows.map((row) => settingField(row, { failed, label: labelOf(row.key) })))));
  return rows;
}

const GROUP_HINTS = {
  "[persons.NAME]": "Each person's own tolerance; without one, [recognition] tolerance applies to them.",
  "[cluster]": "The Dask cluster is set up at start: change these in the file, then restart facewatchd.",
};

// The section a key belongs to, as the file writes it.
function groupOf(key) {
  const [head, n] = key.split(".");
  if (head === "watch") return `[[watch]] #${n}`;
  if (head === "persons") return "[persons.NAME]";
  return `[${head}]`;
}

// What a row is called in its section: the key there, or the person's name.
function labelOf(key) {
  if (key.startsWith("persons.")) return key.slice("persons.".length, -".tolerance".length);
  return key.split(".").at(-1);
}

export function personOf(key) {
  return key.startsWith("persons.") ? labelOf(key) : null;
}

// Where the value in use comes from, in words.
export function sourceText(row) {
  const said = row.source === "runtime" ? `set by ${row.actor} at ${whenShort(row.at)}` : row.source;
  return row.live ? said : `${said}; read at start only`;
}

const kindOf = (value) => (typeof value === "boolean" ? "boolean" : typeof value === "number" ? "number"
  : value !== null && typeof value === "object" ? "object" : "text");

// The value as the field shows it.
function display(kind, value) {
  if (kind === "object") return JSON.stringify(value);
  return value === null || value === undefined ? "" : String(value);
}

// One setting: its field, where its value comes from, a reset for a change made at run
// time, and the daemon's refusal beside it. `failed` handles what is not a refusal (no
// token: ask for it).
export function settingField(row, { failed, label = labelOf(row.key) }) {
  const kind = kindOf(row.value);
  const id = `setting-${++counter}`;
  const input = kind === "boolean"
    ? el("input", { type: "checkbox", id })
    : el("input", { type: kind === "number" ? "number" : "text", id, autocomplete: "off", spellcheck: "false",
      inputmode: kind === "number" ? "decimal" : null, readonly: kind === "object",
      step: kind === "number" ? (Number.isInteger(row.value) && Math.abs(row.value) >= 1 ? "1" : "0.01") : null,
      class: kind === "text" && String(row.value ?? "").includes("/") ? "path" : null });
  input.disabled = !row.live;
  const source = el("span", { class: "source" });
  const reset = el("button", { type: "button", class: "quiet small reset", text: "Reset to file",
    title: `Set ${row.key} back to the configuration file's value` });
  const refusal = el("p", { class: "refusal", role: "alert", hidden: true });
  const form = el("form", { class: "value", novalidate: true }, input);
  const node = el("div", { class: "setting", dataset: { key: row.key } },
    el("label", { class: "key", for: id, title: row.key }, el("code", { text: label })), form,
    el("div", { class: "about" }, source, reset), refusal);
  const field = { node, row, busy: false, update };
  let work = Promise.resolve(); // one change at a time, in order

  function current() {
    return kind === "boolean" ? input.checked : input.value;
  }

  function put(value) {
    if (kind === "boolean") input.checked = Boolean(value);
    else input.value = display(kind, value);
  }

  // The daemon's row for this key: shown, unless the person is typing another value.
  function update(next, { force = false } = {}) {
    const edited = kind !== "boolean" && document.activeElement === input && input.value !== display(kind, field.row.value);
    field.row = next;
    if (force || !edited) put(next.value);
    source.textContent = sourceText(next);
    source.title = next.source === "runtime" ? `set by ${next.actor} at ${when(next.at)}` : "";
    node.dataset.source = next.source;
    reset.hidden = next.source !== "runtime" || !next.live;
    reset.setAttribute("aria-label", `Reset ${next.key} to the file's value`);
  }

  function refuse(message) {
    refusal.textContent = message;
    refusal.hidden = false;
    input.setAttribute("aria-invalid", "true");
  }

  function clear() {
    refusal.hidden = true;
    input.removeAttribute("aria-invalid");
  }

  // Send `path` with `body`; the answer is the row as it is now.
  async function send(path, body, done) {
    field.busy = true;
    node.classList.add("sending");
    try {
      const answer = await post(path, body);
      clear();
      everywhere(answer);
      done(answer);
      document.dispatchEvent(new CustomEvent("settingchange", { detail: answer })); // daemon.paused: the header
      refreshSettings(); // others may follow it (a person's tolerance follows [recognition]'s)
    } catch (error) {
      put(field.row.value); // nothing changed: the field shows what is in use again
      if (error instanceof ApiError && !["no_token", "unauthorized"].includes(error.code)) refuse(error.message);
      else failed(error);
    } finally {
      field.busy = false;
      node.classList.remove("sending");
    }
  }

  function commit() {
    const value = current();
    if (kind === "object" || value === (kind === "boolean" ? Boolean(field.row.value) : display(kind, field.row.value))) return work;
    // As typed: 0.58, true; text as a TOML string, so a path or a name is never read as a number.
    const typed = kind === "boolean" ? String(value) : kind === "number" ? value.trim() : JSON.stringify(value);
    work = work.then(() => send(`/api/settings/${encodeURIComponent(row.key)}`, { value: typed },
      (answer) => toast(`${answer.key} = ${display(kind, answer.value)}: in use now`)));
    return work;
  }

  input.addEventListener("change", commit);
  form.addEventListener("submit", (event) => { event.preventDefault(); commit(); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { put(field.row.value); clear(); }
  });
  reset.addEventListener("click", () => {
    work = work.then(() => send(`/api/settings/${encodeURIComponent(row.key)}/unset`, {},
      (answer) => toast(`${answer.key} = ${display(kind, answer.value)}: the file's value again`)));
  });
  update(row, { force: true });
  if (!shown.has(row.key)) shown.set(row.key, new Set());
  shown.get(row.key).add(field);
  return node;
}

// A row the daemon answered, shown by every field of its key still on the page.
function everywhere(row) {
  for (const field of shown.get(row.key) ?? []) {
    if (!field.node.isConnected) shown.get(row.key).delete(field);
    else field.update(row, { force: true });
  }
}

// The fields shown, as the daemon has them now (after a change here or elsewhere:
// facewatchctl set, pause); a field being typed in or sent keeps its own.
export async function refreshSettings() {
  if (![...shown.values()].some((fields) => [...fields].some((f) => f.node.isConnected))) return;
  let rows;
  try {
    rows = await get("/api/settings");
  } catch {
    return; // the status line says why
  }
  for (const row of rows) {
    for (const field of shown.get(row.key) ?? []) {
      if (!field.node.isConnected) shown.get(row.key).delete(field);
      else if (!field.busy) field.update(row);
    }
  }
}
