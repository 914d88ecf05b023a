// Pause and resume sorting, from the header. The state shown is the daemon's: the
// status polled every 4 s (so a `facewatchctl pause` elsewhere shows too), or the
// answer of the page's own pause / resume.
import { post } from "./api.js";
import { toast } from "./ui.js";

export class PauseControl {
  constructor({ failed, changed }) {
    this.button = document.getElementById("pause");
    this.banner = document.getElementById("paused-banner");
    this.failed = failed; // (error) => shown, or the token asked for
    this.changed = changed; // (paused) => the rest of the page follows
    this.paused = null; // not known yet
    this.button.addEventListener("click", () => this.toggle());
    document.getElementById("banner-resume").addEventListener("click", () => this.toggle(false));
  }

  // What the daemon says: true, false, or null (it cannot be reached).
  show(paused) {
    const before = this.paused;
    this.paused = paused;
    this.button.disabled = paused === null;
    this.button.setAttribute("aria-pressed", String(paused === true));
    this.button.querySelector(".label").textContent = paused ? "Resume" : "Pause";
    this.button.title = paused ? "Sort again, beginning with what waited in inbound"
      : "Stop sorting: new files wait in inbound, unread (review actions still work)";
    this.banner.hidden = paused !== true;
    document.body.classList.toggle("paused", paused === true);
    if (before !== null && paused !== null && before !== paused) this.changed(paused);
  }

  async toggle(pause = !this.paused) {
    if (this.busy || this.paused === null) return;
    this.busy = true;
    this.button.setAttribute("aria-busy", "true");
    try {
      const row = await post(pause ? "/api/pause" : "/api/resume");
      this.show(Boolean(row.value));
      toast(row.value ? "Paused: new files wait in inbound." : "Sorting again, beginning with what waited.");
    } catch (error) {
      this.failed(error);
    } finally {
      this.busy = false;
      this.button.removeAttribute("aria-busy");
    }
  }
}
