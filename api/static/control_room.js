// The control room, live: follows /live/control-room (Server-Sent Events carrying the state
// of /api/dashboard), redraws what the server drew first with the same markup, counts the
// tickets' deadlines down, and plays the alarm while an alert sounds. Nothing is loaded
// from another host.
"use strict";
(() => {
  const root = document.getElementById("cr");
  if (!root) return;
  const T = JSON.parse(document.getElementById("cr-text").textContent);
  const canAck = root.dataset.canAck === "true";
  const canDispatch = root.dataset.canDispatch === "true";
  const lang = root.dataset.locale;
  // The server's clock may not be the browser's (a demo at another site time): count from it.
  const skew = Number(root.dataset.serverNow) - Date.now();
  const now = () => Date.now() + skew;
  let version = root.dataset.version;
  let siteNames = {};
  document.querySelectorAll('#cr-filters select[name="site"] option[value]').forEach((o) => { siteNames[o.value] = o.textContent; });

  // --- text and time -------------------------------------------------------------------
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const fill = (template, params) => template.replace(/%\((\w+)\)(02d|d|s)/g, (_, k, f) =>
    f === "02d" ? String(params[k]).padStart(2, "0") : String(params[k]));
  const formats = {};
  function at(iso, zone, short) {
    if (!iso) return "—";
    const key = zone + (short ? "s" : "");
    formats[key] = formats[key] || new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
      short ? {} : { month: "2-digit", day: "2-digit" }));
    const p = Object.fromEntries(formats[key].formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
    return (short ? "" : `${p.month}-${p.day} `) + `${p.hour}:${p.minute}`;
  }
  const timeAt = (iso, zone) => `<time datetime="${esc(iso)}">${at(iso, zone)}</time>`;
  function countdownText(iso) {
    const left = (Date.parse(iso) - now()) / 1000;
    const minutes = Math.floor(Math.abs(left) / 60);
    const duration = fill(T.duration, { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
    return [fill(left >= 0 ? T.left : T.overdue, { duration }), left < 0];
  }
  const deadline = (iso, done) => {
    if (!iso || done) return "";
    const [text, late] = countdownText(iso);
    return `<span class="countdown${late ? " overdue" : ""}" data-deadline="${esc(iso)}">${esc(text)}</span>`;
  };
  const reason = (r) => {
    if (!r) return "";
    const i = r.indexOf(":");
    const template = T.reason[r.slice(0, i)];
    return template ? fill(template, { ref: r.slice(i + 1) }) : r;
  };
  const label = (table, key) => table[key] || key;

  function tick() {
    document.querySelectorAll("[data-deadline]").forEach((el) => {
      const [text, late] = countdownText(el.dataset.deadline);
      el.textContent = text;
      el.classList.toggle("overdue", late);
    });
    document.querySelectorAll("[data-clock]").forEach((el) => { el.textContent = at(new Date(now()).toISOString(), el.dataset.clock, true); });
  }
  tick();  // the server's countdowns were written up to a minute ago
  setInterval(tick, 1000);

  // --- drawing (the same markup as control_room.html) -------------------------------------
  function alertHtml(a, zone) {
    const tags = [];
    if (a.escalated) tags.push(`<span class="tag">${esc(T.escalated)}</span>`);
    if (a.held_by) tags.push(`<span class="tag held">${esc(fill(T.held, { reason: reason(a.held_by) }))}</span>`);
    if (a.acknowledged_by) tags.push(`<span class="tag">${esc(fill(T.acknowledged, { name: a.acknowledged_by }))}${a.ack_comment ? ": " + esc(a.ack_comment) : ""}</span>`);
    if (a.muted_until) tags.push(`<span class="tag">${esc(fill(T.muted, { time: at(a.muted_until, zone, true), name: a.muted_by, reason: a.mute_reason }))}</span>`);
    let actions = "";
    if (canAck) {
      actions = `<span class="actions">${a.acknowledged_at ? "" : `<button type="button" data-action="acknowledge" data-id="${a.id}">${esc(T.acknowledge)}</button>`}` +
        `${a.muted_until ? "" : `<button type="button" data-action="mute" data-id="${a.id}">${esc(T.mute)}</button>`}</span>`;
    }
    return `<li class="alert sev-${esc(a.severity)}${a.sounding ? " sounding" : ""}" data-alert-id="${a.id}">${timeAt(a.started_at, zone)} ` +
      `<span class="summary">${esc(a.summary)}</span>${tags.join("")}${actions}</li>`;
  }
  function groupHtml(g) {
    const asset = g.asset_id.startsWith("site:") ? `<b>${esc(g.asset_name)}</b>` : `<a href="/asset/${encodeURIComponent(g.asset_id)}">${esc(g.asset_name)}</a>`;
    const fault = g.fault_label || g.fault;
    return `<article class="group sev-${esc(g.severity)}${g.sounding ? " sounding" : ""}" data-key="${esc(g.key)}">` +
      `<header><span class="sev">${esc(label(T.severity, g.severity))}</span> ${asset} <span class="muted">· ${esc(siteNames[g.site_id] || g.site_id || "")}${fault ? " · " + esc(fault) : ""}</span>` +
      `${g.ticket_id ? ` <a class="ticket" href="/tickets/${g.ticket_id}">#${g.ticket_id}</a>` : ""}</header>` +
      `<ul>${g.alerts.map((a) => alertHtml(a, g.time_zone)).join("")}</ul></article>`;
  }
  function ticketHtml(t) {
    const assign = canDispatch && t.state === "registered" ? `<button type="button" data-action="assign" data-id="${t.id}">${esc(T.assign)}</button>` : "";
    return `<tr class="sev-${esc(t.severity)}" data-ticket-id="${t.id}"><td><a href="/tickets/${t.id}">${t.id}</a></td>` +
      `<td class="nowrap">P${t.priority} · ${esc(label(T.severity, t.severity))}</td>` +
      `<td class="title"><a href="/tickets/${t.id}">${esc(t.title)}</a><br><span class="muted">${esc(t.asset_name)} · ${esc(siteNames[t.site_id] || t.site_id)}</span></td>` +
      `<td class="nowrap">${esc(label(T.state, t.state))}${t.assignee ? " · " + esc(t.assignee) : ""}</td><td class="hide-narrow">${esc(t.desk_label)}</td>` +
      `<td class="when arrival-${esc(t.arrival)}">${timeAt(t.arrive_by, t.time_zone)} ${deadline(t.arrive_by, t.arrived_at)}<br><span class="muted">${esc(label(T.arrival, t.arrival))}</span></td>` +
      `<td class="when hide-narrow">${t.resolve_by ? timeAt(t.resolve_by, t.time_zone) : "—"} ${deadline(t.resolve_by, t.resolved_at)}</td><td>${assign}</td></tr>`;
  }
  const chipTitle = (a) => label(T.status, a.status) + (a.reason ? " · " + reason(a.reason) : "");
  function chipHtml(a) {
    const title = a.status === "ok" ? "" : ` title="${esc(chipTitle(a))}"`;
    return `<a class="chip ${esc(a.status)}" href="/asset/${esc(a.id)}"${title}>${esc(a.name)}</a>`;
  }
  function siteHtml(s, assets) {
    return `<div class="site" data-site="${esc(s.id)}"><h3>${esc(s.name)} <span class="muted">· ${esc(s.customer_name)} · ` +
      `<span data-clock="${esc(s.time_zone)}">${at(new Date(now()).toISOString(), s.time_zone, true)}</span> (${esc(s.time_zone)})</span></h3>` +
      `<div class="chips">${assets.map(chipHtml).join("")}</div></div>`;
  }

  // Ten thousand chips: touch only those whose status changed, redraw all only when the
  // sites or assets themselves changed (a filter, a new station).
  function drawSites(state) {
    const box = document.getElementById("cr-sites");
    const chips = box.getElementsByClassName("chip");
    const sites = Array.from(box.querySelectorAll("[data-site]"), (el) => el.dataset.site).join("\n");
    const same = chips.length === state.assets.length && sites === state.sites.map((s) => s.id).join("\n") &&
      state.assets.every((a, i) => chips[i].getAttribute("href") === "/asset/" + a.id);
    if (same) {
      state.assets.forEach((a, i) => {
        const chip = chips[i];
        if (!chip.classList.contains(a.status)) chip.className = "chip " + a.status;
        const title = a.status === "ok" ? "" : chipTitle(a);
        if ((chip.getAttribute("title") || "") !== title) {
          if (title) chip.title = title; else chip.removeAttribute("title");
        }
      });
      return;
    }
    const bySite = {};
    state.assets.forEach((a) => { (bySite[a.site_id] = bySite[a.site_id] || []).push(a); });
    box.innerHTML = state.sites.map((s) => siteHtml(s, bySite[s.id] || [])).join("");
  }

  function apply(state) {
    version = state.version;
    root.dataset.version = version;
    document.querySelectorAll("#cr-counts [data-status]").forEach((el) => { el.querySelector("b").textContent = state.counts[el.dataset.status] || 0; });
    document.getElementById("cr-groups").innerHTML = state.alert_groups.length
      ? state.alert_groups.map(groupHtml).join("") : `<p class="muted empty">${esc(T.no_alerts)}</p>`;
    document.getElementById("cr-ticket-rows").innerHTML = state.tickets.length
      ? state.tickets.map(ticketHtml).join("") : `<tr class="empty"><td colspan="8" class="muted">${esc(T.no_tickets)}</td></tr>`;
    drawSites(state);
    sound.update(state.sounding);
  }

  // --- the alarm ---------------------------------------------------------------------------
  // One looping <audio>: started when an alert id starts sounding that this page had not
  // heard, stopped when nothing sounds; an update never restarts it. Browsers refuse to play
  // before a gesture on the page: "Enable sound" (remembered) unlocks it with the first click.
  const sound = (() => {
    const audio = document.getElementById("cr-alarm");
    const button = document.getElementById("cr-sound-enable");
    const badge = document.getElementById("cr-sounding");
    const WANTED = "sitewatch.sound";
    let heard = new Set();
    let sounding = [];
    let unlocked = false;
    const show = () => {
      document.body.dataset.sounding = sounding.length ? "true" : "false";
      root.dataset.sounding = document.body.dataset.sounding;
      root.dataset.soundingIds = sounding.join(",");
      badge.hidden = !sounding.length;
      badge.querySelector("b").textContent = sounding.length;
      button.hidden = unlocked;
    };
    const play = () => audio.play().then(() => { unlocked = true; show(); }, () => {
      unlocked = false;
      button.title = T.sound_blocked;
      show();
    });
    const stop = () => { audio.pause(); audio.currentTime = 0; };
    function unlock() {
      localStorage.setItem(WANTED, "on");
      // Played once inside the gesture: from now on the page may start it by itself.
      audio.play().then(() => {
        unlocked = true;
        if (!sounding.length) stop();
        show();
      }, () => show());
    }
    button.addEventListener("click", unlock);
    document.addEventListener("pointerdown", () => { if (!unlocked && localStorage.getItem(WANTED) === "on") unlock(); }, true);
    return {
      update(ids) {
        const fresh = ids.filter((id) => !heard.has(id));
        sounding = ids;
        ids.forEach((id) => heard.add(id));
        if (!ids.length) stop();
        else if (fresh.length && audio.paused) play();
        show();
      },
    };
  })();
  sound.update(root.dataset.soundingIds ? root.dataset.soundingIds.split(",").map(Number) : []);

  // --- filters, the stream ----------------------------------------------------------------
  const form = document.getElementById("cr-filters");
  const query = () => new URLSearchParams(Array.from(new FormData(form)).filter(([, v]) => v)).toString();
  const live = document.getElementById("cr-live");
  let stream = null;
  function listen(since) {
    if (stream) stream.close();
    const q = query();
    stream = new EventSource(`/live/control-room?${q}${q ? "&" : ""}since=${encodeURIComponent(since || "")}`);
    stream.addEventListener("state", (e) => apply(JSON.parse(e.data)));
    // The session ended (logged out elsewhere, expired, user disabled): to the login form.
    stream.addEventListener("logout", () => { stream.close(); location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search)); });
    stream.onopen = () => { live.dataset.state = "live"; live.textContent = T.live; };
    stream.onerror = () => { live.dataset.state = "lost"; live.textContent = T.reconnecting; };
  }
  async function refresh() {
    const response = await fetch(`/api/dashboard?${query()}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) apply(await response.json());
  }
  function narrowSites() {
    const customer = form.elements.customer ? form.elements.customer.value : "";
    Array.from(form.elements.site.options).forEach((o) => { o.hidden = !!(customer && o.dataset.customer && o.dataset.customer !== customer); });
    if (form.elements.site.selectedOptions[0].hidden) form.elements.site.value = "";
  }
  form.addEventListener("change", () => {
    narrowSites();
    const q = query();
    history.replaceState(null, "", q ? `/?${q}` : "/");
    listen("");  // the stream starts with the state under the new filters
  });
  narrowSites();
  listen(version);

  // --- the process itself: its store-and-forward buffer, as /healthz reports it ----------------
  // Not part of the stream (that follows the database); the same words as the server drew.
  const service = document.getElementById("cr-service");
  async function checkService() {
    try {
      const response = await fetch("/healthz", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const buffers = Object.values((await response.json()).buffers || {}).filter((b) => b.warning);
      service.textContent = buffers.map((b) => fill(T.buffer_warning, {
        samples: b.samples.toLocaleString("en"), percent: `${Math.floor(100 * b.samples / b.max_samples)} %`,
        dropped: b.dropped.toLocaleString("en"),
      })).join(" ");
      service.hidden = !buffers.length;
    } catch (err) {
      // The process does not answer: the stream's indicator already says the connection is lost.
    }
  }
  setInterval(checkService, Number(service.dataset.checkMs));

  // --- acknowledge, mute, assign --------------------------------------------------------------
  // Acknowledging is one click and Enter (the alarm is ringing); its comment is optional, so
  // the browser's own prompt asks for it. Muting and assigning need a form.
  const error = document.getElementById("cr-error");
  async function send(url, body) {
    error.hidden = true;
    try {
      await sitewatch.post(url, body);
      await refresh();
      return null;
    } catch (err) {
      return fill(T.not_saved, { error: err.message });
    }
  }
  const forms = {
    mute: { url: (id) => `/api/alerts/${id}/mute`, body: (f) => ({ minutes: Number(f.elements.minutes.value), reason: f.elements.reason.value }) },
    assign: { url: (id) => `/api/tickets/${id}/transitions`, body: (f) => ({ to: "dispatched", assignee: f.elements.assignee.value, note: f.elements.note.value }) },
  };
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    const what = button.closest("[data-alert-id], [data-ticket-id]");
    const described = what ? (what.querySelector(".summary, td:nth-child(3) a") || what).textContent : "";
    if (action === "acknowledge") {
      const comment = window.prompt(`${T.acknowledge}: ${described}\n${T.comment}`, "");
      if (comment === null) return;
      const failed = await send(`/api/alerts/${button.dataset.id}/acknowledge`, { comment });
      if (failed) { error.textContent = failed; error.hidden = false; }
      return;
    }
    const dialog = document.getElementById(`cr-${action}`);
    const f = dialog.querySelector("form");
    f.reset();
    f.dataset.id = button.dataset.id;
    dialog.querySelector(".what").textContent = described;
    dialog.querySelector(".error").hidden = true;
    dialog.showModal();
  });
  Object.entries(forms).forEach(([action, form]) => {
    const dialog = document.getElementById(`cr-${action}`);
    const f = dialog.querySelector("form");
    f.addEventListener("submit", async (e) => {
      if (e.submitter && e.submitter.value === "cancel") return;
      e.preventDefault();
      const failed = await send(form.url(f.dataset.id), form.body(f));
      if (!failed) { dialog.close(); return; }
      const box = dialog.querySelector(".error");
      box.textContent = failed;
      box.hidden = false;
    });
  });
})();
