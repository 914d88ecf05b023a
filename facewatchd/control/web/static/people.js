// People: each person's reference faces as crops, disable / enable one, and the
// tolerance that applies to them, changed here as in the Settings view.
import { get } from "./api.js";
import { el, picture, plural } from "./ui.js";
import { settingField } from "./settings.js";

export async function showPeople(root, { toggle, failed, rename, merge, not }) {
  const [persons, references, settings] = await Promise.all([get("/api/persons"), get("/api/references"), get("/api/settings")]);
  const tolerances = new Map(settings.filter((row) => row.key.startsWith("persons.")).map((row) => [row.key, row]));
  if (!persons.length) {
    root.replaceChildren(el("p", { class: "empty", text: "No people yet: add photos to the references folder, or name a cluster." }));
    return persons;
  }
  const byPerson = Map.groupBy ? Map.groupBy(references, (r) => r.person) : group(references);
  root.replaceChildren(...persons.map((person) => {
    const refs = byPerson.get(person.name) ?? [];
    const row = tolerances.get(`persons.${person.name}.tolerance`);
    return el("section", { class: "card person", dataset: { person: person.name } },
      el("h3", {}, person.name, " ", el("small", {
        text: `${plural(person.references, "reference")}${person.disabled ? `, ${person.disabled} disabled` : ""}` })),
      el("div", { class: "person-actions" },
        el("button", { type: "button", class: "small photos", text: "Photos", "aria-label": `Photos filed under ${person.name}`,
          onclick: () => showGallery(person.name, { not, failed }) }),
        el("button", { type: "button", class: "small rename", text: "Rename…", "aria-label": `Rename ${person.name}`,
          onclick: () => rename(person.name) }),
        el("button", { type: "button", class: "small merge", text: "Merge into…", "aria-label": `Merge ${person.name} into someone else`,
          disabled: persons.length < 2, onclick: () => merge(person.name) })),
      el("div", { class: "strip" }, refs.map((ref) => el("figure", { class: `crop known${ref.active ? "" : " disabled"}`, dataset: { ref: ref.id } },
        el("img", { src: `/api/references/${ref.id}/crop`, alt: `reference ${ref.id} of ${person.name}`, loading: "lazy", width: 112, height: 112 }),
        el("figcaption", {}, `#${ref.id} ${ref.origin}`, el("br"),
          el("button", { type: "button", class: "small", text: ref.active ? "Disable" : "Enable",
            "aria-label": `${ref.active ? "Disable" : "Enable"} reference ${ref.id} of ${person.name}`,
            onclick: () => toggle(ref) }))))),
      row ? settingField(row, { failed, label: "tolerance" })
        : el("p", { class: "hint", text: `tolerance ${person.tolerance}` }));
  }));
  return persons;
}

const PER_PAGE = 60;

// A person's filed photos, in a dialog: each with "Not this person" (it goes back to
// review, and its face becomes a negative example of them).
async function showGallery(person, { not, failed }) {
  const dialog = document.getElementById("gallery-dialog");
  const list = document.getElementById("gallery-items");
  const more = document.getElementById("gallery-more");
  const count = document.getElementById("gallery-count");
  document.getElementById("gallery-person").textContent = person;
  list.replaceChildren();
  count.textContent = "loading…";
  let offset = 0;
  let total = 0;
  const page = async () => {
    let answer;
    try {
      answer = await get(`/api/persons/${encodeURIComponent(person)}/files`, { limit: PER_PAGE, offset });
    } catch (error) {
      count.textContent = `Cannot list them: ${error.message}`;
      failed(error);
      return;
    }
    total = answer.total;
    offset = answer.offset + answer.items.length;
    list.append(...answer.items.map((file) => figure(file, person, { not, failed }, () => {
      total -= 1;
      offset -= 1;
      shown();
    })));
    shown();
  };
  const shown = () => {
    count.textContent = total ? `${plural(total, "photo")} filed under ${person}` : `No photos filed under ${person}.`;
    more.hidden = offset >= total;
  };
  more.onclick = page;
  if (!dialog.open) dialog.showModal();
  await page();
}

function figure(file, person, { not, failed }, gone) {
  const name = file.path.split("/").pop();
  const said = el("span", { class: "said" });
  const button = el("button", { type: "button", class: "small danger not-person", text: "Not this person",
    "aria-label": `${name} is not ${person}`, title: `Back to review, and never taken for ${person} again` });
  // With its face boxes, as the queue's tiles have them (green: taken for them).
  const shown = picture(`/api/filed/${file.entry}/thumbnail`, file.size, file.faces, { alt: name });
  shown.querySelector("img").addEventListener("error", () => shown.replaceWith(el("div", { class: "nopic", text: "no picture" })));
  const node = el("figure", { class: "filed", dataset: { entry: file.entry }, title: file.path },
    el("div", { class: "frame" }, shown),
    el("figcaption", {}, el("span", { class: "name", text: name }), el("br"), button, said));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await not(file, person);
      node.classList.add("said-not");
      said.textContent = " back in review";
      gone();
    } catch (error) {
      button.disabled = false;
      said.textContent = ` ${error.message || error}`;
      failed(error);
    }
  });
  return node;
}

function group(references) {
  const found = new Map();
  for (const ref of references) {
    if (!found.has(ref.person)) found.set(ref.person, []);
    found.get(ref.person).push(ref);
  }
  return found;
}
