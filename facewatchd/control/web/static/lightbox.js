// The lightbox: one item large (its photo, or its video playing), numbered face
// boxes, the decision in words (the ledger's `why`), and the actions for it.
import { get } from "./api.js";
import { el, picture, reasonText, distance } from "./ui.js";

export class Lightbox {
  constructor({ items, act, turnPage, trash }) {
    this.dialog = document.getElementById("lightbox");
    this.items = items; // () => the items of the page shown
    this.act = act; // (action, item, face) => Promise
    this.turnPage = turnPage; // (+1 | -1) => Promise<boolean>: another page was loaded
    this.trash = trash; // () => true in the trash view
    this.index = 0;
    document.getElementById("lb-prev").addEventListener("click", () => this.step(-1));
    document.getElementById("lb-next").addEventListener("click", () => this.step(1));
    document.getElementById("lb-close").addEventListener("click", () => this.close());
    this.dialog.addEventListener("close", () => {
      this.dialog.classList.remove("drawing");
      this.stopDrawing?.();
      this.dialog.querySelector("video")?.pause();
      this.onClose?.(this.index);
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  get item() {
    return this.items()[this.index];
  }

  open(index) {
    this.index = index;
    if (!this.dialog.open) this.dialog.showModal();
    this.show();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  // After the page was loaded again (an action took the item away): show what is
  // now at the same place, or close if the page is empty.
  reshow() {
    const items = this.items();
    if (!items.length) return this.close();
    this.index = Math.min(this.index, items.length - 1);
    this.show();
  }

  async step(direction) {
    const next = this.index + direction;
    if (next >= 0 && next < this.items().length) {
      this.index = next;
      this.show();
    } else if (await this.turnPage(direction)) {
      this.index = direction > 0 ? 0 : this.items().length - 1;
      this.show();
    }
  }

  show() {
    const item = this.item;
    if (!item) return;
    this.dialog.classList.remove("drawing");
    this.stopDrawing?.();
    const video = item.kind === "video";
    const src = `/api/review/${item.id}/image`;
    const faces = video ? [] : item.face_boxes;
    document.getElementById("lb-stage").replaceChildren(
      picture(src, item.size, faces, { alt: `Item ${item.id}`, video, lazy: false, maybeFace: item.suggestion?.face }));
    document.getElementById("lb-title").textContent = `#${item.id} · ${reasonText(item.reason)}`;
    document.getElementById("lb-path").textContent = item.path;
    document.getElementById("lb-pos").textContent = `${this.index + 1} / ${this.items().length}`;
    document.getElementById("lb-rule").textContent = "";
    document.getElementById("lb-faces").replaceChildren();
    this.actions(item);
    this.explain(item);
  }

  async explain(item) {
    let why;
    try {
      why = await get(`/api/review/${item.id}/why`);
    } catch (error) {
      document.getElementById("lb-rule").textContent = `Cannot say why: ${error.message}`;
      return;
    }
    if (this.item?.id !== item.id) return; // moved on meanwhile
    const when = new Date(why.updated * 1000).toLocaleString();
    const rule = document.getElementById("lb-rule");
    rule.replaceChildren(el("strong", { text: "Why here: " }), why.evidence.rule || reasonText(why.reason),
      el("br"), el("small", { text: `since ${when}, found as ${why.source}` }));
    if (why.decision_now.rule && why.decision_now.rule !== why.evidence.rule) {
      rule.append(el("br"), el("strong", { text: "With the references now: " }), why.decision_now.rule);
    }
    const list = document.getElementById("lb-faces");
    list.replaceChildren(...why.now.map((face) => el("li", {},
      face.time !== null && face.time !== undefined ? `at ${face.time.toFixed(1)} s: ` : "",
      face.person
        ? [{ sure: "is ", supported: "is ", uncertain: "may be " }[face.band] ?? "nearest is ",
           el("strong", { text: face.person }), ` (${face.why || "distance " + distance(face.distance)})`]
        : "no references to compare with")));
  }

  actions(item) {
    const box = document.getElementById("lb-actions");
    if (this.trash()) {
      box.replaceChildren(el("button", { type: "button", class: "primary", text: "Restore",
        onclick: () => this.act("restore", item) }));
      return;
    }
    const buttons = [el("button", { type: "button", text: "Keep as…", title: "Keep as the name in the bar below (k)",
      onclick: () => this.act("keep", item) }),
    el("button", { type: "button", text: "Keep in folder…", title: "Keep it in a folder, not as a person (f)",
      onclick: () => this.act("keep-to", item) })];
    for (let n = 1; n <= item.faces; n++) {
      buttons.push(el("button", { type: "button", text: item.faces > 1 ? `Face ${n} is…` : "Add as reference",
        title: `Face ${n} becomes a reference of the name below (${n})`, dataset: { face: n },
        onclick: () => this.act("teach", item, n) }));
    }
    if (item.suggestion) {
      const who = item.suggestion.person;
      buttons.unshift(el("button", { type: "button", class: "primary", text: `Yes, ${who}`,
        title: `Face ${item.suggestion.face} becomes a reference of ${who}`,
        onclick: () => this.act("teach", item, item.suggestion.face, who) }));
    }
    // "Not X" where the page says X: a one-click suggestion or a hint.
    const near = item.suggestion ?? item.hint;
    if (near) {
      buttons.push(el("button", { type: "button", class: "not-person", text: `Not ${near.person}`,
        title: `Its face becomes a negative example of ${near.person}: never suggested as ${near.person} again`,
        onclick: () => this.act("not", item, near.face, near.person) }));
    }
    if (item.kind !== "video" && item.size) {
      buttons.push(el("button", { type: "button", class: "draw-face", "aria-pressed": "false", text: "Draw a face",
        title: "The detector missed a face: drag a rectangle around it on the photo",
        onclick: (event) => this.toggleDrawing(event.currentTarget) }));
    }
    buttons.push(el("button", { type: "button", class: "danger", text: "Delete", title: "Move to the trash (Delete)",
      onclick: () => this.act("delete", item) }));
    // The page behind is inert while this is open: its own name field, kept in step
    // with the bar's.
    const bar = document.getElementById("person-name");
    const name = el("input", { id: "lb-name", list: "persons-list", placeholder: "Name (n)", value: bar.value,
      autocomplete: "off", spellcheck: "false", "aria-label": "Name to keep or teach as" });
    name.addEventListener("input", () => { bar.value = name.value; });
    const kept = this.drawMessage?.id === item.id ? this.drawMessage.message : "";
    this.drawMessage = null;
    box.replaceChildren(name, ...buttons, el("p", { class: `draw-status${kept ? " error" : ""}`, id: "lb-draw-status",
      "aria-live": "polite", text: kept }));
  }

  get drawing() {
    return this.isOpen && this.dialog.classList.contains("drawing");
  }

  drawError(message) {
    this.drawMessage = { id: this.item?.id, message }; // kept when the page is loaded again
    const status = document.getElementById("lb-draw-status");
    if (status) {
      status.textContent = message;
      status.classList.add("error");
    }
  }

  // Draw a face: drag a rectangle on the photo; its box, in the photo's own pixels
  // (item.size), goes with a name to add-face.
  toggleDrawing(button, on = !this.drawing) {
    this.dialog.classList.toggle("drawing", on);
    button?.setAttribute("aria-pressed", String(on));
    const status = document.getElementById("lb-draw-status");
    status.classList.remove("error");
    status.textContent = on ? "Drag a rectangle around the face on the photo." : "";
    const pic = document.querySelector("#lb-stage .pic");
    if (!pic) return;
    if (!on) {
      pic.querySelector(".drawn")?.remove();
      if (this.stopDrawing) this.stopDrawing();
      return;
    }
    const item = this.item;
    let start = null;
    let mark = null;
    const at = (event) => {
      const rect = pic.getBoundingClientRect();
      return { x: Math.max(0, Math.min(rect.width, event.clientX - rect.left)),
        y: Math.max(0, Math.min(rect.height, event.clientY - rect.top)), rect };
    };
    const place = (a, b) => {
      mark.style.left = `${Math.min(a.x, b.x)}px`;
      mark.style.top = `${Math.min(a.y, b.y)}px`;
      mark.style.width = `${Math.abs(a.x - b.x)}px`;
      mark.style.height = `${Math.abs(a.y - b.y)}px`;
    };
    const down = (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      pic.setPointerCapture?.(event.pointerId);
      start = at(event);
      pic.querySelector(".drawn")?.remove();
      mark = el("div", { class: "drawn", "aria-hidden": "true" });
      pic.append(mark);
      place(start, start);
    };
    const move = (event) => { if (start) place(start, at(event)); };
    const up = async (event) => {
      if (!start) return;
      const end = at(event);
      const from = start;
      start = null;
      const [width, height] = item.size;
      const sx = width / end.rect.width;
      const sy = height / end.rect.height;
      const left = Math.round(Math.min(from.x, end.x) * sx);
      const top = Math.round(Math.min(from.y, end.y) * sy);
      const w = Math.round(Math.abs(end.x - from.x) * sx);
      const h = Math.round(Math.abs(end.y - from.y) * sy);
      if (w < 4 || h < 4) {
        mark?.remove();
        status.textContent = "Too small: drag a rectangle around the face.";
        return;
      }
      status.classList.remove("error");
      status.textContent = `Face drawn at ${left},${top}, ${w}×${h} px.`;
      const filed = await this.act("draw", item, [left, top, w, h]);
      if (!filed && this.item?.id === item.id) mark?.remove();
    };
    pic.addEventListener("pointerdown", down);
    pic.addEventListener("pointermove", move);
    pic.addEventListener("pointerup", up);
    this.stopDrawing = () => {
      pic.removeEventListener("pointerdown", down);
      pic.removeEventListener("pointermove", move);
      pic.removeEventListener("pointerup", up);
      this.stopDrawing = null;
    };
  }
}
