// People: each person's reference faces as crops, disable / enable one, and the
// tolerance that applies to them (set in the configuration).
import { get } from "./api.js";
import { el, plural } from "./ui.js";

export async function showPeople(root, { toggle }) {
  const [persons, references] = await Promise.all([get("/api/persons"), get("/api/references")]);
  if (!persons.length) {
    root.replaceChildren(el("p", { class: "empty", text: "No people yet: add photos to the references folder, or name a cluster." }));
    return persons;
  }
  const byPerson = Map.groupBy ? Map.groupBy(references, (r) => r.person) : group(references);
  root.replaceChildren(...persons.map((person) => {
    const refs = byPerson.get(person.name) ?? [];
    const key = /^[A-Za-z0-9_-]+$/.test(person.name) ? person.name : JSON.stringify(person.name);
    const tolerance = `tolerance ${person.tolerance}` + (person.tolerance_set ? " (set for them)" : " (the default)");
    return el("section", { class: "card person", dataset: { person: person.name } },
      el("h3", {}, person.name, " ", el("small", {
        text: `${plural(person.references, "reference")}${person.disabled ? `, ${person.disabled} disabled` : ""} · ${tolerance}` })),
      el("div", { class: "strip" }, refs.map((ref) => el("figure", { class: `crop known${ref.active ? "" : " disabled"}`, dataset: { ref: ref.id } },
        el("img", { src: `/api/references/${ref.id}/crop`, alt: `reference ${ref.id} of ${person.name}`, loading: "lazy", width: 112, height: 112 }),
        el("figcaption", {}, `#${ref.id} ${ref.origin}`, el("br"),
          el("button", { type: "button", class: "small", text: ref.active ? "Disable" : "Enable",
            "aria-label": `${ref.active ? "Disable" : "Enable"} reference ${ref.id} of ${person.name}`,
            onclick: () => toggle(ref) }))))),
      el("p", { class: "hint" }, "To change it: ", el("code", { text: `[persons.${key}] tolerance = ${person.tolerance}` }),
        " in the configuration, then ", el("code", { text: "facewatchctl reload" })));
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
