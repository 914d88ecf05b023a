// People: each person's reference faces as crops, disable / enable one, and the
// tolerance that applies to them, changed here as in the Settings view.
import { get } from "./api.js";
import { el, plural } from "./ui.js";
import { settingField } from "./settings.js";

export async function showPeople(root, { toggle, failed }) {
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

function group(references) {
  const found = new Map();
  for (const ref of references) {
    if (!found.has(ref.person)) found.set(ref.person, []);
    found.get(ref.person).push(ref);
  }
  return found;
}
