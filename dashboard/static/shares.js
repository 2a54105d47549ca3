// The admin's share links of the current property: make one (its URL is shown once), list
// them, revoke one. Share viewers never see this control.

import { request } from "./api.js";
import { clear, h } from "./dom.js";

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function base(pid) {
  return `/v1/properties/${encodeURIComponent(pid)}/shares`;
}

function say(text) {
  const msg = document.getElementById("share-message");
  msg.textContent = text;
  msg.hidden = !text;
}

async function refresh(pid) {
  const list = document.getElementById("share-list");
  try {
    const { shares } = await request(base(pid));
    clear(list);
    if (!shares.length) list.append(h("li", { class: "muted" }, "No share links yet."));
    for (const s of shares) {
      const expires = s.expires_at ? `expires ${when.format(new Date(s.expires_at))}` : "never expires";
      list.append(h("li", { "data-share": s.share_id },
        h("span", { class: "share-label" }, s.label || "(no label)"),
        h("span", { class: "muted small" }, ` made ${when.format(new Date(s.created_at))}, ${expires}`),
        h("button", { type: "button", class: "danger", "aria-label": `Revoke ${s.label || s.share_id}`,
          onclick: async () => {
            try {
              await request(`${base(pid)}/${encodeURIComponent(s.share_id)}`, { method: "DELETE" });
              say("Revoked.");
            } catch (err) {
              say(err.message);
            }
            refresh(pid);
          } }, "Revoke")));
    }
  } catch (err) {
    clear(list).append(h("li", { class: "error" }, err.message));
  }
}

/** Wires the Share button and dialog; ``pid()`` is the property shown. */
export function setupShares(pid) {
  const dialog = document.getElementById("share-dialog");
  const open = document.getElementById("share-open");
  open.hidden = false;
  if (open.dataset.wired) return;
  open.dataset.wired = "1";
  open.addEventListener("click", () => {
    say("");
    document.getElementById("share-created").hidden = true;
    dialog.showModal();
    refresh(pid());
  });
  document.getElementById("share-close").addEventListener("click", () => dialog.close());
  document.getElementById("share-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const days = document.getElementById("share-days").value;
    try {
      const made = await request(base(pid()), { method: "POST", body: {
        label: document.getElementById("share-label").value,
        expires_in_days: days ? Number(days) : null } });
      const url = document.getElementById("share-url");
      url.value = made.url;
      document.getElementById("share-created").hidden = false;
      url.focus();
      url.select();
      say("");
    } catch (err) {
      say(err.message);
    }
    refresh(pid());
  });
}
