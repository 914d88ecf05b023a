// Unknown people: each cluster as a strip of face crops. A face can be taken out
// (it is not that person) before the rest is named; or the cluster is ignored.
import { get } from "./api.js";
import { el, plural, distance } from "./ui.js";

// The daemon answers a page of clusters at a time: fetch them all, in turn.
async function everyCluster() {
  const clusters = [];
  for (;;) {
    const page = await get("/api/clusters", { offset: clusters.length });
    clusters.push(...page.items);
    if (!page.items.length || clusters.length >= page.total) return clusters;
  }
}

export async function showClusters(root, { run, persons }) {
  const clusters = await everyCluster();
  document.getElementById("count-clusters").textContent = clusters.length || "";
  if (!clusters.length) {
    root.replaceChildren(el("p", { class: "empty", text: "No groups of unknown faces in the queue." }));
    return clusters;
  }
  root.replaceChildren(...clusters.map((cluster) => card(cluster, run)));
  return clusters;
}

function card(cluster, run) {
  const out = new Set();
  const crops = cluster.faces.map((face) => {
    const figure = el("figure", { class: "crop", dataset: { face: face.id } },
      el("img", { src: `/api/review/${face.item}/faces/${face.n}/crop`, alt: `face ${face.n} of item ${face.item}`,
        loading: "lazy", width: 112, height: 112 }),
      el("figcaption", { text: `#${face.item}` + (face.n > 1 ? ` face ${face.n}` : "") }));
    const button = el("button", { type: "button", class: "out-button", "aria-pressed": "false",
      "aria-label": `Not this person: take face ${face.n} of item ${face.item} out`, title: "Not this person: take it out",
      text: "✕" });
    button.addEventListener("click", () => {
      const taken = !out.has(face.id);
      if (taken) out.add(face.id);
      else out.delete(face.id);
      figure.classList.toggle("out", taken);
      button.setAttribute("aria-pressed", String(taken));
      count.textContent = summary();
    });
    figure.append(button);
    return figure;
  });
  const summary = () => `${plural(cluster.size - out.size, "face")} in ${plural(cluster.items.length, "item")}` +
    (out.size ? `, ${out.size} taken out` : "") +
    (cluster.nearest ? ` · nearest known: ${cluster.nearest} ${distance(cluster.distance)}` : "");
  const count = el("small", { text: summary() });
  const name = el("input", { list: "persons-list", placeholder: "Who is it?", required: true, autocomplete: "off",
    "aria-label": `Name of cluster ${cluster.id}`, spellcheck: "false" });
  const form = el("form", { class: "name-form" }, name,
    el("button", { type: "submit", class: "primary", text: "Name" }),
    el("button", { type: "button", class: "quiet", text: "Ignore", title: "Stop showing this group",
      onclick: () => run("ignore", cluster, {}) }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const person = name.value.trim();
    // The faces shown: the daemon names them or, if the cluster has changed since, nothing.
    const faces = cluster.faces.map((face) => face.id);
    if (person) run("name", cluster, out.size ? { person, faces, exclude: [...out] } : { person, faces });
  });
  return el("section", { class: "card cluster", dataset: { id: cluster.id }, "aria-label": `Cluster ${cluster.id}` },
    el("h3", {}, `Cluster ${cluster.id} `, count), el("div", { class: "strip" }, crops), form);
}
