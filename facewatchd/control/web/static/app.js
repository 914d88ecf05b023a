// The review page: Queue, Unknown people, People, Trash, Dashboard, Settings; the
// pause control in the header. Plain ES modules, no build.
import { takeToken, hasToken, setToken, get, post, ApiError } from "./api.js";
import { Grid } from "./grid.js";
import { Lightbox } from "./lightbox.js";
import { showClusters } from "./clusters.js";
import { showPeople } from "./people.js";
import { showSettings, refreshSettings } from "./settings.js";
import { showDashboard, redrawDashboard } from "./dashboard.js";
import { PauseControl } from "./pause.js";
import { el, toast, plural, distance, left } from "./ui.js";
import { nameOf } from "./grid.js";

const $ = (id) => document.getElementById(id);
const CHUNK = 200; // ids per request: a long batch shows progress and never times out
const VIEWS = ["queue", "clusters", "people", "trash", "dashboard", "settings"];
const ACTING = ["queue", "trash"]; // the views with a selection and the action bar

// undo: the page's own actions, each with the ledger entries it made (its moves and
// the re-checks they caused): Undo walks back exactly those, not what others did since.
const state = { view: "queue", offset: 0, page: null, trashPage: null, undo: [], busy: false, status: null };

takeToken();

const queue = new Grid($("grid"), { onOpen: (i) => lightbox.open(i), onChange: selectionChanged, onGroup: confirmGroup });
const trash = new Grid($("trash-grid"), { onOpen: (i) => lightbox.open(i), onChange: selectionChanged, onGroup: () => {} });
const grid = () => (state.view === "trash" ? trash : queue);
const shown = () => (state.view === "trash" ? state.trashPage : state.page);
const lightbox = new Lightbox({
  items: () => shown()?.items ?? [], act: actOn, turnPage, trash: () => state.view === "trash",
});
lightbox.onClose = (index) => grid().setFocus(index);

const filters = () => ({
  reason: $("filter-reason").value, person: $("filter-person").value,
  order: $("filter-order").value, limit: Number($("filter-limit").value),
});
// The name to keep or teach as: the bar's field, or the lightbox's (the same value).
const personName = () => (lightbox.isOpen ? $("lb-name")?.value ?? "" : $("person-name").value).trim();

// Loading

function busy(on) {
  document.body.toggleAttribute("aria-busy", on);
  document.body.dataset.loading = on ? "yes" : "no";
}

async function loadQueue() {
  const f = filters();
  let page = await get("/api/review/list", { reason: f.reason, person: f.person, order: f.order, limit: f.limit, offset: state.offset });
  if (!page.items.length && state.offset > 0 && page.total > 0) { // the last page emptied: show the one before
    state.offset = Math.floor((page.total - 1) / f.limit) * f.limit;
    page = await get("/api/review/list", { reason: f.reason, person: f.person, order: f.order, limit: f.limit, offset: state.offset });
  }
  state.page = page;
  queue.show(page, { grouped: f.order === "suggested" });
  $("empty").hidden = page.total > 0;
  const pages = Math.max(1, Math.ceil(page.total / f.limit));
  const number = Math.floor(state.offset / f.limit) + 1;
  $("page-info").textContent = page.total
    ? `${(state.offset + 1).toLocaleString()}–${(state.offset + page.items.length).toLocaleString()} of ${plural(page.total, "item")} · page ${number} of ${pages}`
    : "";
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + f.limit >= page.total;
  $("select-all").textContent = `Select all ${page.total.toLocaleString()}`;
  $("changed").hidden = true;
}

async function loadTrash() {
  const page = await get("/api/review/list", { deleted: true, limit: 500 });
  state.trashPage = page;
  trash.show(page);
  $("trash-empty").hidden = page.total > 0;
}

async function loadPersons() {
  const persons = await get("/api/persons");
  $("persons-list").replaceChildren(...persons.map((p) => el("option", { value: p.name })));
  const select = $("filter-person");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "anyone" }),
    ...persons.map((p) => el("option", { value: p.name, text: p.name })));
  select.value = persons.some((p) => p.name === chosen) ? chosen : "";
}

async function load(view = state.view) {
  busy(true);
  try {
    if (view === "queue") await loadQueue();
    else if (view === "trash") await loadTrash();
    else if (view === "clusters") await showClusters($("clusters"), { run: clusterAction });
    else if (view === "people") await showPeople($("people"), {
      toggle: toggleReference, failed, rename: renamePerson, merge: mergePerson, not: notThisPerson });
    else if (view === "settings") await showSettings($("settings"), { failed });
    else if (view === "dashboard") {
      const status = state.status ?? await get("/api/status").catch(() => null);
      await showDashboard($("dashboard"), { days: Number($("dashboard-days").value), inReview: status?.in_review ?? null });
    }
    if (lightbox.isOpen) lightbox.reshow();
  } catch (error) {
    failed(error);
  } finally {
    busy(false);
  }
}

async function turnPage(direction) {
  const f = filters();
  const offset = state.offset + direction * f.limit;
  if (state.view !== "queue" || offset < 0 || offset >= (state.page?.total ?? 0)) return false;
  state.offset = offset;
  await load();
  window.scrollTo(0, 0);
  return true;
}

// Views

function go(view) {
  if (!VIEWS.includes(view)) view = "queue";
  lightbox.close();
  state.view = view;
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("actions").hidden = !ACTING.includes(view);
  document.querySelector(".queue-only").hidden = view !== "queue";
  document.querySelector(".trash-only").hidden = view !== "trash";
  selectionChanged(grid().selected.size);
  load(view);
}

window.addEventListener("hashchange", () => go(location.hash.slice(1)));
let resized = null;
window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(redrawDashboard, 150); });
$("dashboard-days").addEventListener("change", () => load("dashboard"));

// Live counts, and whether the daemon sorts

// Paused or not, from here or elsewhere: the Settings view's daemon.paused follows.
const pause = new PauseControl({ failed, changed: () => refreshSettings() });

document.addEventListener("settingchange", (event) => { if (event.detail.key === "daemon.paused") pollStatus(); });

async function pollStatus() {
  const line = $("status");
  try {
    const s = await get("/api/status");
    state.status = s;
    pause.show(Boolean(s.paused));
    line.classList.remove("down");
    const waiting = s.queued + s.settling;
    // As `facewatchctl status` and `systemctl status` say it: the backlog, its rate, the
    // time left, and the long jobs under way.
    line.textContent = `${plural(s.in_review, "in review", "in review")} · ${s.processed.toLocaleString()} sorted` +
      (waiting || s.in_flight ? ` · ${waiting} waiting, ${s.in_flight} in flight` : "") +
      (s.eta_s !== null && s.eta_s !== undefined ? ` · ${s.rate.toFixed(1)} files/s, ${left(s.eta_s)} left` : "") +
      (s.jobs ?? []).map((j) => ` · ${j.name}: ${j.done.toLocaleString()} of ${j.total.toLocaleString()}`).join("") +
      (s.last_error ? " · last error: " + s.last_error : "");
    line.title = line.textContent;
    $("count-review").textContent = s.in_review ? s.in_review.toLocaleString() : "";
    const f = filters();
    if (state.view === "queue" && state.page && !f.reason && !f.person && s.in_review !== state.page.total && !state.busy) {
      $("changed").querySelector("span").textContent = `The queue has changed: ${plural(s.in_review, "item")} now.`;
      $("changed").hidden = false;
    }
  } catch (error) {
    pause.show(null);
    line.classList.add("down");
    line.textContent = error.code === "unavailable" ? "facewatchd is not running" : `no status: ${error.message}`;
  }
}

// Acting on items

function selectionChanged(count) {
  $("selected-count").textContent = `${count.toLocaleString()} selected`;
  $("actions").classList.toggle("none", count === 0); // on a phone, the bar shows only then
  for (const id of ["keep", "keep-to", "teach", "delete", "restore", "clear"]) $(id).disabled = count === 0;
}

function failed(error) {
  if (error instanceof ApiError && (error.status === 401 || error.code === "no_token")) {
    askToken();
    return;
  }
  toast(error.message || String(error), { error: true, seconds: 10 });
}

function askToken() {
  const dialog = $("token-dialog");
  if (!dialog.open) dialog.showModal();
}

$("token-dialog").addEventListener("close", () => {
  if ($("token-dialog").returnValue === "ok" && $("token-input").value.trim()) {
    setToken($("token-input").value);
    toast("Token kept for this tab. Try again.");
  }
});

// The ledger entries an answer's moves made: its items', and the re-checks' they caused.
const entriesOf = (...moves) => moves.flat().map((r) => r.entry).filter((entry) => entry !== null && entry !== undefined);

// POST the ids in chunks; what was done, what was not, and the moves made (for undo).
async function batch(path, ids, extra, label) {
  const done = [];
  const notDone = [];
  const entries = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    if (ids.length > CHUNK) toast(`${label}: ${Math.min(i + CHUNK, ids.length)} of ${ids.length}…`, { seconds: 60 });
    const answer = await post(path, { ids: ids.slice(i, i + CHUNK), ...extra });
    for (const r of answer.results) (r.ok ? done : notDone).push(r);
    entries.push(...entriesOf(answer.results.filter((r) => r.ok), answer.filed ?? []));
  }
  return { done, notDone, entries };
}

async function perform(label, work) {
  await guarded(async () => {
    const { done, notDone, entries } = await work();
    // Undo is offered only for what it can walk back: moves this action made.
    const undoable = entries.length > 0;
    if (undoable) pushUndo(entries, label);
    grid().forget(done.map((r) => r.id));
    let message = `${label}: ${plural(done.length, "item")}`;
    if (notDone.length) message += `; ${notDone.length} not done: ${notDone[0].error}`;
    toast(message, { error: notDone.length > 0 && !done.length, seconds: notDone.length ? 12 : 6,
      action: undoable ? { label: "Undo", run: undo } : null });
  });
}

// One action at a time; its failure shown; then the page loaded again. False when it
// failed or another was under way.
async function guarded(work) {
  if (state.busy) return false;
  state.busy = true;
  busy(true);
  let ok = false;
  try {
    await work();
    ok = true;
  } catch (error) {
    failed(error);
  } finally {
    state.busy = false;
    busy(false);
  }
  await Promise.all([load(), loadPersons().catch(() => {}), pollStatus()]);
  return ok;
}

function pushUndo(entries, label) {
  state.undo.push({ entries, label });
  $("undo").disabled = false;
  $("undo").title = `Undo: ${label} (u)`;
}

async function undo() {
  const last = state.undo.pop();
  $("undo").disabled = !state.undo.length;
  if (!last) return;
  await perform(`Undone (${last.label})`, async () => {
    const answer = await post("/api/undo", { entries: last.entries });
    return { done: answer.results.filter((r) => r.ok), notDone: answer.results.filter((r) => !r.ok), entries: [] };
  });
}

function needName() {
  const name = personName();
  if (!name) {
    toast("Type a name first.", { error: true });
    (lightbox.isOpen ? $("lb-name") : $("person-name")).focus();
  }
  return name;
}

function keep(ids) {
  const person = needName();
  if (!person || !ids.length) return;
  // A name nobody has yet is taken for a typo unless confirmed (facewatchctl's --new-person).
  const known = [...$("persons-list").options].some((option) => option.value === person);
  if (!known && !confirm(`Nobody is called ${person} yet. File under someone new called ${person}?`)) return;
  const where = known ? { person } : { person, new_person: true };
  perform(`Kept as ${person}`, () => batch("/api/review/keep", ids, where, "Keeping"));
}

// Keep in a folder, not as a person: asked for in a dialog (the daemon refuses a folder
// outside the destinations and review folders, item by item, with its reason).
async function keepTo(ids) {
  if (!ids.length) return;
  loadFolders();
  const dialog = $("folder-dialog");
  $("folder-count").textContent = plural(ids.length, "item");
  dialog.returnValue = "";
  dialog.showModal();
  $("folder-input").select();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  const to = $("folder-input").value.trim();
  if (dialog.returnValue !== "ok" || !to) return;
  await perform(`Kept in ${to}`, () => batch("/api/review/keep", ids, { to }, "Keeping"));
}

// Enter keeps there (the form's first button, its default, is Cancel).
$("folder-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); $("folder-dialog").close("ok"); }
});

// The folders offered: each destination (the folder that holds the person folders) and
// review folder, as the daemon has them now.
async function loadFolders() {
  try {
    const rows = await get("/api/settings");
    const folders = new Set();
    for (const row of rows) {
      if (!/^watch\.\d+\.(destination|review)$/.test(row.key) || typeof row.value !== "string") continue;
      // A destination with {person} holds the person folders in the folder before it.
      const [before, ...rest] = row.value.split("{person}");
      folders.add(rest.length ? before.replace(/\/[^/]*$/, "") || "/" : row.value);
    }
    $("folders-list").replaceChildren(...[...folders].map((folder) => el("option", { value: folder.endsWith("/") ? folder : folder + "/" })));
  } catch {
    // Only suggestions: the field takes any path.
  }
}

function remove(ids) {
  if (ids.length) perform("Moved to the trash", () => batch("/api/review/delete", ids, {}, "Deleting"));
}

function restore(ids) {
  if (ids.length) perform("Restored", () => batch("/api/review/restore", ids, {}, "Restoring"));
}

// Teach: each item's face (1, 2...) becomes a reference of `person`. `faces` maps an
// id to its face; items with several faces and none given are asked about first.
async function teach(ids, person, faces = new Map()) {
  if (!person || !ids.length) return;
  const ask = ids.map((id) => queue.known.get(id)).filter((item) => item && item.faces > 1 && !faces.has(item.id));
  if (ask.length) {
    const chosen = await chooseFaces(ask, person);
    if (!chosen) return;
    for (const [id, face] of chosen) faces.set(id, face);
  }
  const byFace = new Map();
  for (const id of ids) {
    const face = faces.get(id) ?? null;
    if (!byFace.has(face)) byFace.set(face, []);
    byFace.get(face).push(id);
  }
  await perform(`Added as references of ${person}`, async () => {
    const all = { done: [], notDone: [], entries: [] };
    for (const [face, group] of byFace) {
      const part = await batch("/api/review/add-reference", group, face ? { person, face } : { person }, "Teaching");
      all.done.push(...part.done);
      all.notDone.push(...part.notDone);
      all.entries.push(...part.entries);
    }
    return all;
  });
}

function chooseFaces(items, person) {
  const dialog = $("faces-dialog");
  $("faces-person").textContent = person;
  $("faces-items").replaceChildren(...items.map((item) => {
    const preferred = item.suggestion?.person === person ? item.suggestion.face : 1;
    const choices = [];
    for (let n = 1; n <= item.faces; n++) {
      choices.push(el("label", { class: "face-choice" },
        el("input", { type: "radio", name: `face-${item.id}`, value: n, checked: n === preferred, required: true }),
        el("img", { src: `/api/review/${item.id}/faces/${n}/crop`, alt: `face ${n} of item ${item.id}` }),
        `face ${n}`));
    }
    return el("fieldset", { class: "choice" }, el("legend", { text: `#${item.id}` }), choices);
  }));
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue !== "ok") return resolve(null);
      const chosen = new Map();
      for (const item of items) {
        chosen.set(item.id, Number(dialog.querySelector(`input[name="face-${item.id}"]:checked`)?.value ?? 1));
      }
      resolve(chosen);
    }, { once: true });
  });
}

// "Yes, they are X": each face of the group beside X's nearest reference, ticked; only
// the ticked ones are taught, and each can be said to be not X instead.
async function confirmGroup(group) {
  const person = group.person;
  const dialog = $("group-dialog");
  let changed = false; // a "Not X" was said: the queue is loaded again on closing
  $("group-person").textContent = person;
  const rows = group.items.map((entry) => {
    const item = queue.known.get(entry.id);
    const face = entry.face ?? item?.suggestion?.face ?? 1;
    const reference = item?.suggestion?.person === person ? item.suggestion.reference : null;
    const box = el("input", { type: "checkbox", name: "teach", value: entry.id, checked: true,
      "aria-label": `Teach face ${face} of item ${entry.id} as ${person}` });
    const said = el("span", { class: "said", "aria-live": "polite" });
    const not = el("button", { type: "button", class: "small danger not-person", text: `Not ${person}`,
      title: `This face becomes a negative example of ${person}: never suggested as ${person} again` });
    const row = el("div", { class: "group-row", dataset: { id: entry.id, face } },
      el("label", { class: "tick" }, box,
        el("figure", { class: "crop maybe" },
          el("img", { src: `/api/review/${entry.id}/faces/${face}/crop`, alt: `face ${face} of item ${entry.id}`, width: 112, height: 112, loading: "lazy" }),
          el("figcaption", { text: `#${entry.id}${item?.faces > 1 ? ` face ${face}` : ""}` })),
        el("span", { class: "beside", text: "beside" }),
        reference !== null && reference !== undefined
          ? el("figure", { class: "crop known reference" },
            el("img", { src: `/api/references/${reference}/crop`, alt: `reference ${reference} of ${person}`, width: 112, height: 112, loading: "lazy" }),
            el("figcaption", { text: `${person} #${reference}` }))
          : el("figure", { class: "crop reference none" }, el("figcaption", { text: "no reference to show" })),
        el("span", { class: "meta", text: item?.suggestion ? `distance ${distance(item.suggestion.distance)}` : "" })),
      not, said);
    not.addEventListener("click", async () => {
      not.disabled = true;
      try {
        await post("/api/not", { item: entry.id, person, face });
        changed = true;
        box.checked = false;
        box.disabled = true;
        row.classList.add("said-not");
        said.textContent = `not ${person}`;
      } catch (error) {
        not.disabled = false;
        said.textContent = error.message || String(error);
        failed(error);
      }
    });
    return { row, box, entry, face };
  });
  $("group-rows").replaceChildren(...rows.map((r) => r.row));
  dialog.returnValue = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  const ticked = rows.filter((r) => r.box.checked && !r.box.disabled);
  if (dialog.returnValue === "ok" && ticked.length) {
    await teach(ticked.map((r) => r.entry.id), person, new Map(ticked.map((r) => [r.entry.id, r.face])));
  } else if (changed) {
    await Promise.all([load(), pollStatus()]);
  }
}

// A small action that is not a batch of items: its message, then the page loaded again.
function simply(work) {
  return guarded(async () => toast(await work()));
}

// Ask for a name (a person's, known or new) in a dialog; null when cancelled.
async function askName({ title, text = "", value = "", ok = "OK", known = false, except = null }) {
  const dialog = $("name-dialog");
  const input = $("name-input");
  $("name-title").textContent = title;
  $("name-text").textContent = text;
  $("name-ok").textContent = ok;
  $("name-error").textContent = "";
  input.value = value;
  for (;;) {
    dialog.returnValue = "";
    if (!dialog.open) dialog.showModal();
    input.select();
    await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
    const name = input.value.trim();
    if (dialog.returnValue !== "ok" || !name) return null;
    const names = [...$("persons-list").options].map((option) => option.value);
    if (known && !names.includes(name)) $("name-error").textContent = `Nobody is called ${name}: choose one of the people.`;
    else if (except !== null && name === except) $("name-error").textContent = `Choose someone other than ${except}.`;
    else return name;
  }
}

$("name-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); $("name-dialog").close("ok"); }
});

// "Not X": the item's face becomes a negative example of X.
function notPerson(item, person, face = null) {
  return simply(async () => {
    await post("/api/not", face ? { item: item.id, person, face } : { item: item.id, person });
    return `#${item.id} is not ${person}: it will not be suggested as ${person} again`;
  });
}

// A face drawn on the photo (the detector missed it): its box in the photo's pixels.
async function drawnFace(item, box) {
  const person = await askName({ title: "Who is this?", text: `The face drawn on #${item.id} becomes a reference of this person, and the photo is filed under them.`,
    value: item.suggestion?.person ?? item.hint?.person ?? "", ok: "File as this person" });
  if (!person) return false;
  let ok = false;
  await perform(`Drawn face filed as ${person}`, async () => {
    try {
      const answer = await post(`/api/review/${item.id}/add-face`, { box: box.join(","), person });
      const done = answer.results.filter((r) => r.ok);
      ok = done.length > 0;
      return { done, notDone: answer.results.filter((r) => !r.ok), entries: entriesOf(done, answer.filed ?? []) };
    } catch (error) {
      lightbox.drawError(`Not filed: ${error.message || error}`);
      throw error;
    }
  });
  return ok;
}

// People: rename, merge, and their filed photos.
async function renamePerson(old) {
  const name = await askName({ title: `Rename ${old}`, text: "Their references, tolerance and folder take the new name.",
    value: old, ok: "Rename", except: old });
  if (!name) return;
  await simply(async () => {
    await post(`/api/persons/${encodeURIComponent(old)}/rename`, { new: name });
    return `${old} is now called ${name}`;
  });
}

async function mergePerson(old) {
  const into = await askName({ title: `Merge ${old} into…`, text: `The person ${old} is the same as: their references and photos go there, and ${old} is no more.`,
    ok: "Merge", known: true, except: old });
  if (!into) return;
  await simply(async () => {
    await post(`/api/persons/${encodeURIComponent(old)}/merge`, { new: into });
    return `${old} merged into ${into}`;
  });
}

async function notThisPerson(file, person) {
  await post("/api/not", { path: file.path, person });
  toast(`Not ${person}: ${nameOf(file.path)} is back in review`);
  loadPersons().catch(() => {});
  pollStatus();
}

// From the lightbox: one item.
function actOn(action, item, face = null, person = null) {
  if (action === "keep") keep([item.id]);
  else if (action === "keep-to") keepTo([item.id]);
  else if (action === "delete") remove([item.id]);
  else if (action === "restore") restore([item.id]);
  else if (action === "teach") {
    const who = person ?? needName();
    if (who) teach([item.id], who, new Map([[item.id, face ?? 1]]));
  } else if (action === "not") notPerson(item, person, face);
  else if (action === "draw") return drawnFace(item, face);
}

const selected = () => [...grid().selected];

$("keep").addEventListener("click", () => keep(selected()));
$("keep-to").addEventListener("click", () => keepTo(selected()));
$("teach").addEventListener("click", () => { const p = needName(); if (p) teach(selected(), p); });
$("delete").addEventListener("click", () => remove(selected()));
$("restore").addEventListener("click", () => restore(selected()));
$("clear").addEventListener("click", () => grid().clear());
$("undo").addEventListener("click", undo);
$("actions").addEventListener("submit", (event) => { event.preventDefault(); keep(selected()); });
$("select-page").addEventListener("click", () => queue.selectPage());
$("select-all").addEventListener("click", () => queue.selectIds(state.page?.ids ?? []));
$("prev").addEventListener("click", () => turnPage(-1));
$("next").addEventListener("click", () => turnPage(1));
$("refresh").addEventListener("click", () => load());
$("filters").addEventListener("change", () => { state.offset = 0; load(); });
$("help-button").addEventListener("click", () => $("help").showModal());

// Clusters and references

// Naming is undone with the re-checks it caused (their moves disable its references);
// ignoring moves nothing, so it offers no Undo.
async function clusterAction(action, cluster, body) {
  await perform(action === "name" ? `Cluster named ${body.person}` : "Cluster ignored", async () => {
    const answer = await post(`/api/clusters/${cluster.id}/${action}`, body);
    const done = action === "name" ? answer.moved : [{ id: cluster.id }];
    return { done, notDone: [], entries: action === "name" ? entriesOf(answer.moved) : [] };
  });
}

async function toggleReference(ref) {
  const action = ref.active ? "disable" : "enable";
  await perform(`Reference ${ref.id} ${action}d`, async () => {
    const answer = await post(`/api/references/${ref.id}/${action}`);
    return { done: [answer], notDone: [], entries: [] };
  });
}

// Keys (the help dialog lists them)

let pendingG = false;
document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, select, textarea");
  if (typing) {
    if (event.key === "Enter" && ["person-name", "lb-name"].includes(event.target.id)) {
      event.preventDefault();
      if (lightbox.isOpen) actOn("keep", lightbox.item);
      else keep(selected());
    } else if (event.key === "Escape" && event.target.id === "person-name") {
      event.target.blur();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if ([...document.querySelectorAll("dialog[open]")].some((d) => d.id !== "lightbox")) return;
  if (lightbox.drawing) return;
  const key = event.key;
  if (pendingG) {
    pendingG = false;
    const view = { q: "queue", c: "clusters", p: "people", t: "trash", d: "dashboard", s: "settings" }[key];
    if (view) { location.hash = view; event.preventDefault(); return; }
  }
  if (key === "?") { $("help").showModal(); event.preventDefault(); return; }
  if (key === "u") { undo(); return; }
  if (key === "n") { (lightbox.isOpen ? $("lb-name") : $("person-name")).focus(); event.preventDefault(); return; }
  if (lightbox.isOpen) {
    const item = lightbox.item;
    if (key === "ArrowLeft") lightbox.step(-1);
    else if (key === "ArrowRight") lightbox.step(1);
    else if (!item) return;
    else if (key === "k") actOn("keep", item);
    else if (key === "f" && state.view !== "trash") actOn("keep-to", item);
    else if (key === "d" || key === "Delete") actOn(state.view === "trash" ? "restore" : "delete", item);
    else if (key === "r") {
      if (state.view === "trash") actOn("restore", item);
      else if (item.faces === 1) actOn("teach", item, 1);
      else if (item.suggestion && !personName()) actOn("teach", item, item.suggestion.face, item.suggestion.person);
      else toast("Several faces: press the number of the face (1, 2…).");
    } else if (/^[1-9]$/.test(key) && Number(key) <= item.faces) actOn("teach", item, Number(key));
    else return;
    event.preventDefault();
    return;
  }
  if (!ACTING.includes(state.view)) {
    if (key === "g") pendingG = true;
    return;
  }
  const g = grid();
  if (key.startsWith("Arrow") || key === "Home" || key === "End") g.move(key);
  else if (key === " " || key === "x") g.toggleFocused();
  else if (key === "Enter" || key === "o") { if (g.items.length) lightbox.open(g.focus); }
  else if (key === "a") g.selectPage();
  else if (key === "A") g.selectIds(shown()?.ids ?? []);
  else if (key === "Escape") g.clear();
  else if (key === "k" && state.view === "queue") keep(selected());
  else if (key === "f" && state.view === "queue") keepTo(selected());
  else if (key === "r") { if (state.view === "trash") restore(selected()); else { const p = needName(); if (p) teach(selected(), p); } }
  else if ((key === "d" || key === "Delete") && state.view === "queue") remove(selected());
  else if (key === "PageDown") turnPage(1);
  else if (key === "PageUp") turnPage(-1);
  else if (key === "g") pendingG = true;
  else return;
  event.preventDefault();
});

// Start

go(location.hash.slice(1) || "queue");
loadPersons().catch(failed);
pollStatus();
setInterval(pollStatus, 4000);
if (!hasToken()) toast("Read-only until this tab has the token: open the address facewatchctl web printed.", { seconds: 10 });
