// Small DOM helpers. Text always goes in as text (file names are not HTML).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

// The same for SVG (the dashboard's chart): its elements live in another namespace.
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

// A moment the daemon gives as Unix seconds, in the browser's own words and time zone.
export const when = (seconds) => new Date(seconds * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
// The same, shorter: the time alone today, the day and time this year.
export function whenShort(seconds) {
  const moment = new Date(seconds * 1000);
  const now = new Date();
  if (moment.toDateString() === now.toDateString()) return moment.toLocaleTimeString([], { timeStyle: "short" });
  const options = { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
  return moment.toLocaleString([], moment.getFullYear() === now.getFullYear() ? options : { ...options, year: "numeric" });
}

// A time left, as people say it: 40 s, 12 min, 3 h 20 min.
export function left(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export const REASONS = {
  no_face: "no face", unknown_face: "unknown face", uncertain: "uncertain",
  several_people: "several people", duplicate: "duplicate", failed: "failed",
};
export const reasonText = (reason) => REASONS[reason] ?? reason.replaceAll("_", " ");
export const plural = (n, word, many = word + "s") => `${n.toLocaleString()} ${n === 1 ? word : many}`;
export const distance = (d) => (d === null || d === undefined ? "" : d.toFixed(2));

// A picture with its face boxes, placed in percent of the picture as the contact
// sheet does, so they stay right at any size. `faces` as review.page gives them.
export function picture(src, size, faces, { alt = "", video = false, maybeFace = null, lazy = true } = {}) {
  const [width, height] = size ?? [0, 0];
  const box = el("div", { class: "pic" });
  if (width && height) {
    box.style.aspectRatio = `${width} / ${height}`;
    box.classList.add(width >= height ? "wide" : "tall");
  }
  if (video) {
    box.append(el("video", { src, controls: true, preload: "metadata", playsinline: true, "aria-label": alt }));
  } else {
    box.append(el("img", { src, alt, loading: lazy ? "lazy" : null, decoding: "async", draggable: "false" }));
  }
  if (width && height) {
    for (const face of faces) {
      const [top, right, bottom, left] = face.box;
      const kind = face.matched ? "known" : face.n === maybeFace ? "maybe" : "";
      const who = face.person ? `${face.person} ${distance(face.distance)}` : "no references";
      const mark = el("div", { class: `face ${kind}`, title: `face ${face.n}: ${who}` }, el("span", { text: face.n }));
      mark.style.left = `${(100 * left) / width}%`;
      mark.style.top = `${(100 * top) / height}%`;
      mark.style.width = `${(100 * (right - left)) / width}%`;
      mark.style.height = `${(100 * (bottom - top)) / height}%`;
      box.append(mark);
    }
  }
  return box;
}

let toastTimer = null;
// A message at the bottom; with `action`, a button (e.g. Undo) beside it.
export function toast(message, { error = false, action = null, seconds = 6 } = {}) {
  const node = document.getElementById("toast");
  node.replaceChildren(el("span", { text: message }));
  node.classList.toggle("error", error);
  if (action) {
    node.append(el("button", { type: "button", text: action.label, onclick: () => { node.hidden = true; action.run(); } }));
  }
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, seconds * 1000);
}
