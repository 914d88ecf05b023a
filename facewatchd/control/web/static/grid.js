// A page of items as tiles: selection (click, shift-click, keyboard), roving focus,
// and, in "suggested" order, a header before each "maybe NAME" group.
import { el, picture, reasonText, distance, plural } from "./ui.js";

export class Grid {
  constructor(root, { onOpen, onChange, onGroup }) {
    this.root = root;
    this.onOpen = onOpen;
    this.onChange = onChange;
    this.onGroup = onGroup;
    this.items = [];
    this.tiles = [];
    this.selected = new Set(); // item ids, across pages
    this.known = new Map(); // id → item, every item shown so far
    this.anchor = null;
    this.focus = 0;
    root.addEventListener("click", (event) => this.click(event));
    root.addEventListener("dblclick", (event) => {
      const tile = event.target.closest(".tile");
      if (tile) this.onOpen(Number(tile.dataset.index));
    });
  }

  show(page, { grouped = false } = {}) {
    this.items = page.items;
    this.tiles = [];
    const groups = new Map(page.groups.map((g) => [g.person, g]));
    const fragment = document.createDocumentFragment();
    let current;
    page.items.forEach((item, index) => {
      this.known.set(item.id, item);
      if (grouped && groups.size) {
        const group = item.suggestion ? item.suggestion.person : null;
        if (index === 0 || group !== current) {
          fragment.append(group ? this.header(groups.get(group)) : el("div", { class: "group others" },
            el("h3", { text: "Other items" })));
          current = group;
        }
      }
      const tile = this.tile(item, index);
      this.tiles.push(tile);
      fragment.append(tile);
    });
    this.root.replaceChildren(fragment);
    this.focus = Math.min(this.focus, Math.max(0, this.items.length - 1));
    this.anchor = null;
    this.setFocus(this.focus, false);
  }

  header(group) {
    const who = group.person;
    return el("div", { class: "group", dataset: { person: who } },
      el("h3", {}, "maybe ", el("span", { class: "who", text: who })),
      el("span", { class: "meta", text: `${plural(group.count, "item")}, nearest ${distance(group.best)}` }),
      el("button", { type: "button", class: "select-group", text: `Select all ${group.count}`,
        onclick: () => { this.selectIds(group.items.map((i) => i.id)); } }),
      el("button", { type: "button", class: "primary confirm-group", text: `Yes, they are ${who}…`,
        title: `Check each face beside ${who}'s nearest reference: the ticked ones become references of ${who}, and they are filed under ${who}`,
        onclick: () => this.onGroup(group) }));
  }

  tile(item, index) {
    const suggestion = item.suggestion;
    const faces = item.face_boxes.filter((f) => f.time === item.thumbnail_time);
    const label = `Item ${item.id}: ${reasonText(item.reason)}` + (suggestion ? `, maybe ${suggestion.person}` : "");
    const frame = el("div", { class: "frame" }, item.thumbnail
      ? picture(item.thumbnail, item.size, faces, { alt: label, maybeFace: suggestion?.face })
      : el("div", { class: "nopic", text: item.kind === "video" ? "video: no picture" : "no picture" }));
    const caption = el("div", { class: "caption" },
      el("span", { class: "id", text: `#${item.id}` }), " ", reasonText(item.reason),
      item.faces > 1 ? `, ${item.faces} faces` : "",
      suggestion
        ? el("span", { class: "why maybe", text: `maybe ${suggestion.person} ${distance(suggestion.distance)}` })
        : el("span", { class: "why", text: item.person ? `nearest ${item.person} ${distance(item.distance)}` : nameOf(item.path) }),
      // A near miss: only a hint to the eye, never a one-click group.
      !suggestion && item.hint
        ? el("span", { class: "why hint-like", title: `face ${item.hint.face}: ${item.hint.person} ${distance(item.hint.distance)}`,
          text: `looks a bit like ${item.hint.person}` })
        : null);
    return el("div", {
      class: "tile", role: "option", tabindex: "-1", "aria-selected": String(this.selected.has(item.id)),
      "aria-label": label, dataset: { id: item.id, index }, title: nameOf(item.path),
    }, frame, caption,
    el("span", { class: "check", "aria-hidden": "true", text: "✓" }),
    el("button", { type: "button", class: "open", "aria-label": `Open item ${item.id}`, title: "Open (Enter)", text: "⤢", tabindex: "-1" }));
  }

  click(event) {
    const tile = event.target.closest(".tile");
    if (!tile) return;
    const index = Number(tile.dataset.index);
    if (event.target.closest(".open")) {
      this.onOpen(index);
      return;
    }
    this.setFocus(index);
    if (event.shiftKey && this.anchor !== null) {
      const [from, to] = [Math.min(this.anchor, index), Math.max(this.anchor, index)];
      for (let i = from; i <= to; i++) this.selected.add(this.items[i].id);
    } else {
      this.toggleId(this.items[index].id);
      this.anchor = index;
    }
    this.refresh();
  }

  toggleId(id) {
    if (this.selected.has(id)) this.selected.delete(id);
    else this.selected.add(id);
  }

  toggleFocused() {
    if (!this.items.length) return;
    this.toggleId(this.items[this.focus].id);
    this.anchor = this.focus;
    this.refresh();
  }

  selectIds(ids) {
    for (const id of ids) this.selected.add(id);
    this.refresh();
  }

  selectPage() {
    this.selectIds(this.items.map((i) => i.id));
  }

  clear() {
    this.selected.clear();
    this.refresh();
  }

  forget(ids) {
    for (const id of ids) this.selected.delete(id);
    this.refresh();
  }

  refresh() {
    for (const tile of this.tiles) {
      tile.setAttribute("aria-selected", String(this.selected.has(Number(tile.dataset.id))));
    }
    this.onChange(this.selected.size);
  }

  columns() {
    const template = getComputedStyle(this.root).gridTemplateColumns;
    return Math.max(1, template.split(" ").filter(Boolean).length);
  }

  setFocus(index, focus = true) {
    if (!this.tiles.length) return;
    this.focus = Math.max(0, Math.min(index, this.tiles.length - 1));
    this.tiles.forEach((tile, i) => { tile.tabIndex = i === this.focus ? 0 : -1; });
    if (focus) {
      this.tiles[this.focus].focus({ preventScroll: true });
      this.tiles[this.focus].scrollIntoView({ block: "nearest" });
    }
  }

  move(key) {
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -this.columns(), ArrowDown: this.columns(), Home: -1e9, End: 1e9 }[key];
    this.setFocus(this.focus + step);
  }
}

export const nameOf = (path) => path.split("/").pop();
