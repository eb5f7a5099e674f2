// MegaMon web view: polls the JSON API (docs/api.md) and renders the fleet
// table and, for the selected entity, its up/down timeline. Plain browser
// JavaScript, no dependencies, no build step.
"use strict";

(function () {
  const POLL_MS = 2000;
  const NS = 1e9;
  // What each family is called, as the API names it (filled from /api/v1/fleet).
  const FAMILIES = {};

  const ui = {
    family: "all",
    state: "all",
    search: "",
    sort: { col: "state", dir: 1 },
    selected: null, // {kind, key}
    fleet: null,
    detail: null,
    // The history view: ended entities from the archive.
    view: "fleet",
    historyQ: "",
    history: null, // the last /api/v1/history answer
    historyAsked: null, // the query it answered
    historyAt: 0, // when it was fetched (ms)
    openEnded: null, // "kind/key" expanded
  };
  const HISTORY_EVERY_MS = 10000;

  const $ = (id) => document.getElementById(id);

  // ---------- formatting ----------

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  /** Integer nanoseconds → "3d 4h", "2h 05m", "7m 30s", "45s", "250ms". */
  function human(ns) {
    if (ns == null) return "–";
    const s = ns / NS;
    if (s < 1) return ns === 0 ? "0s" : Math.round(ns / 1e6) + "ms";
    const t = Math.floor(s);
    const d = Math.floor(t / 86400), h = Math.floor((t % 86400) / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + String(m).padStart(2, "0") + "m";
    if (m > 0) return m + "m " + String(sec).padStart(2, "0") + "s";
    return sec + "s";
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  /** "2026-11-25 02:58:24 UTC": cluster timestamps are UTC, so is the page. */
  function utc(ms, withSeconds = true) {
    const d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + (withSeconds ? ":" + pad(d.getUTCSeconds()) : "") + " UTC";
  }

  function shortAxis(ms, spanMs) {
    const d = new Date(ms);
    const hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    if (spanMs < 3600e3) return hm + ":" + pad(d.getUTCSeconds());
    if (spanMs < 36 * 3600e3) return hm;
    return pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + hm;
  }

  function pct(v) { return v == null ? null : (v >= 99.95 && v < 100 ? "99.9" : v.toFixed(1)); }

  // ---------- the model ----------

  /** Rows of the table: one per entity, with what sorting and display need. */
  function rows(fleet) {
    const out = [];
    for (const fam of fleet.families) {
      if (fam.title) FAMILIES[fam.kind] = { one: fam.title, many: fam.titlePlural };
      for (const e of fam.entities) {
        const u = e.upness, s = e.summary;
        let name = e.key, sub = "";
        if (u.jobsetName) {
          name = (u.jobsetNamespace ? u.jobsetNamespace + "/" : "") + u.jobsetName; sub = e.key;
        } else if (u.lwsName) {
          name = (u.lwsNamespace ? u.lwsNamespace + "/" : "") + u.lwsName; sub = e.key;
        } else if (u.sliceOwnerName) {
          sub = (u.sliceOwnerKind || "owner") + " " + (u.sliceOwnerNamespace ? u.sliceOwnerNamespace + "/" : "") + u.sliceOwnerName;
        }
        const hw = [u.tpuAccelerator, u.tpuTopology].filter(Boolean).join(" · ");
        if (!sub) sub = hw;
        const neverUp = s.provisioningState ? s.provisioningState !== "success" : (!e.up && s.upTime === 0 && s.downTimeProvisioned === 0);
        out.push({
          kind: fam.kind, key: e.key, entity: e, name, sub,
          search: [name, e.key, sub, hw, u.status || "", FAMILIES[fam.kind] ? FAMILIES[fam.kind].one : fam.kind].join(" ").toLowerCase(),
          stateRank: e.state === "down" || e.state === "down (failed)" ? 0 : e.state === "down (planned)" ? 1 : 2,
          upPercent: e.upPercent,
          interruptions: s.interruptionCount,
          mttr: s.recoveryCount > 0 ? s.meanDownTimeBetweenRecovery : null,
          mtbi: s.interruptionCount > 0 ? s.meanUpTimeBetweenInterruption : null,
          firstUp: neverUp ? null : s.downTimeProvisioned,
        });
      }
    }
    return out;
  }

  function stateClass(state) {
    return state === "up" ? "s-up" : state === "down" || state === "down (failed)" ? "s-down" : "s-planned";
  }

  function stateLabel(state) {
    return state === "up" ? "Up" : state === "down" ? "Down" : state === "down (failed)" ? "Failed" : "Planned down";
  }

  /** "22m 00s", "failed after 4m 10s", "not yet (3m 02s so far)". */
  function provisioning(s, firstUp) {
    if (s.provisioningState === "failed") return "failed after " + human(s.provisioningDuration);
    if (s.provisioningState === "provisioning") return "not yet (" + human(s.provisioningDuration) + " so far)";
    return firstUp == null ? "not yet" : human(firstUp);
  }

  const SORTS = {
    name: (a, b) => a.name.localeCompare(b.name),
    family: (a, b) => a.kind.localeCompare(b.kind),
    state: (a, b) => a.stateRank - b.stateRank,
    upPercent: (a, b) => nullLast(a.upPercent, b.upPercent),
    interruptions: (a, b) => a.interruptions - b.interruptions,
    mttr: (a, b) => nullLast(a.mttr, b.mttr),
    mtbi: (a, b) => nullLast(a.mtbi, b.mtbi),
    firstUp: (a, b) => nullLast(a.firstUp, b.firstUp),
  };

  function nullLast(a, b) {
    if (a == null && b == null) return 0;
    if (a == null) return 1;
    if (b == null) return -1;
    return a - b;
  }

  // ---------- rendering: fleet ----------

  function renderCards(all) {
    const scoped = ui.family === "all" ? all : all.filter((r) => r.kind === ui.family);
    const up = scoped.filter((r) => r.entity.state === "up").length;
    const down = scoped.filter((r) => r.stateRank === 0).length;
    const planned = scoped.filter((r) => r.entity.state === "down (planned)").length;
    let upNs = 0, totalNs = 0, interruptions = 0;
    for (const r of scoped) {
      upNs += r.entity.summary.upTime;
      totalNs += r.entity.summary.upTime + r.entity.summary.downTime;
      interruptions += r.interruptions;
    }
    const avail = totalNs > 0 ? pct((100 * upNs) / totalNs) : null;
    const scope = ui.family === "all" ? "all families" : FAMILIES[ui.family] ? FAMILIES[ui.family].many : ui.family;
    const card = (cls, label, value, note, extra = "") =>
      `<div class="card ${cls}"><div class="card-label">${esc(label)}</div><div class="card-value ${extra}">${value}</div><div class="card-note">${esc(note)}</div></div>`;
    $("cards").innerHTML =
      card("", "Entities", String(scoped.length), scope) +
      card("c-up", "Up", `${up}<small>/ ${scoped.length}</small>`, scoped.length ? Math.round((100 * up) / scoped.length) + "% of entities" : "no entities") +
      card("c-down", "Down", String(down), "unplanned", down > 0 ? "nonzero" : "") +
      card("c-planned", "Planned down", String(planned), "completed, stopping, deleting") +
      card("c-avail", "Availability", avail == null ? "–" : `${avail}<small>%</small>`, `${interruptions} interruption${interruptions === 1 ? "" : "s"} observed`);
  }

  /** The fleet panel "Interruptions by cause": summed over the shown family. */
  function renderCauses(all) {
    const scoped = ui.family === "all" ? all : all.filter((r) => r.kind === ui.family);
    const totals = {};
    for (const r of scoped) {
      for (const [cause, n] of Object.entries(r.entity.causes || {})) totals[cause] = (totals[cause] || 0) + n;
    }
    const list = Object.entries(totals).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const panel = $("causes-panel");
    if (list.length === 0) { panel.hidden = true; return; }
    panel.hidden = false;
    const sum = list.reduce((t, [, n]) => t + n, 0);
    const max = list[0][1];
    $("causes-note").textContent = `· ${sum} interruption${sum === 1 ? "" : "s"}`;
    $("causes").innerHTML = list.map(([cause, n]) =>
      `<span class="cause-name" data-cause="${esc(cause)}">${esc(cause)}</span>` +
      `<span class="cause-bar"><span style="width:${(100 * n / max).toFixed(1)}%"></span></span>` +
      `<span class="cause-count" data-cause-count="${esc(cause)}">${n} · ${Math.round((100 * n) / sum)}%</span>`).join("");
  }

  function renderTabs(all) {
    const kinds = ui.fleet.families.map((f) => f.kind);
    const tab = (kind, label, list) => {
      const down = list.filter((r) => r.stateRank === 0).length;
      const badge = down ? `<span class="down-badge" title="${down} down">${down} down</span>` : "";
      return `<button class="tab" role="tab" data-family="${esc(kind)}" aria-selected="${ui.family === kind}">${esc(label)}<span class="count">${list.length}</span>${badge}</button>`;
    };
    let html = tab("all", "All", all);
    for (const k of kinds) html += tab(k, FAMILIES[k] ? FAMILIES[k].many : k, all.filter((r) => r.kind === k));
    $("family-tabs").innerHTML = html;
  }

  function renderTable(all) {
    const q = ui.search.trim().toLowerCase();
    const shown = all.filter((r) =>
      (ui.family === "all" || r.kind === ui.family) &&
      (ui.state === "all" || r.entity.state === ui.state) &&
      (!q || r.search.includes(q)));
    const cmp = SORTS[ui.sort.col] || SORTS.state;
    const col = ui.sort.col;
    shown.sort((a, b) => {
      const c = cmp(a, b);
      if (c === 0) return a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
      // Missing values ("–") stay at the bottom whichever the direction.
      const missing = col in a && (a[col] == null || b[col] == null);
      return missing ? c : c * ui.sort.dir;
    });

    for (const th of document.querySelectorAll("#fleet th")) {
      const col = th.dataset.sort;
      const arrow = ui.sort.col === col ? (ui.sort.dir > 0 ? "▲" : "▼") : "";
      let a = th.querySelector(".arrow");
      if (!a) { a = document.createElement("span"); a.className = "arrow"; th.appendChild(a); }
      a.textContent = arrow;
      th.setAttribute("aria-sort", ui.sort.col === col ? (ui.sort.dir > 0 ? "ascending" : "descending") : "none");
    }

    const dash = '<span class="dash">–</span>';
    const sel = ui.selected;
    $("fleet-body").innerHTML = shown.map((r) => {
      const e = r.entity;
      const rowCls = (r.stateRank === 0 ? "row-down" : e.state === "down (planned)" ? "row-planned" : "") +
        (sel && sel.kind === r.kind && sel.key === r.key ? " selected" : "");
      const p = pct(e.upPercent);
      const upCell = p == null ? dash : `<span class="uppct">${p}%<span class="bar"><span style="width:${Math.max(0, Math.min(100, e.upPercent)).toFixed(1)}%"></span></span></span>`;
      return `<tr class="entity-row ${rowCls}" tabindex="0" data-kind="${esc(r.kind)}" data-key="${esc(r.key)}" data-state="${esc(e.state)}">` +
        `<td class="col-entity"><div class="ent-name">${esc(r.name)}</div>${r.sub ? `<div class="ent-sub">${esc(r.sub)}</div>` : ""}</td>` +
        `<td class="fam">${esc(FAMILIES[r.kind] ? FAMILIES[r.kind].one : r.kind)}</td>` +
        `<td><span class="pill ${stateClass(e.state)}">${stateLabel(e.state)}</span></td>` +
        `<td class="num">${upCell}</td>` +
        `<td class="num${r.interruptions > 0 ? " count-bad" : ""}">${r.interruptions}</td>` +
        `<td class="num">${r.mttr == null ? dash : human(r.mttr)}</td>` +
        `<td class="num">${r.mtbi == null ? dash : human(r.mtbi)}</td>` +
        `<td class="num">${r.firstUp == null ? '<span class="dash">not yet up</span>' : human(r.firstUp)}</td>` +
        `</tr>`;
    }).join("");

    const empty = $("empty");
    if (shown.length === 0) {
      empty.hidden = false;
      empty.textContent = all.length === 0 ? "No entities yet: nothing of any watched family has been seen." : "No entity matches these filters.";
    } else {
      empty.hidden = true;
    }
  }

  function render() {
    if (!ui.fleet) return;
    const all = rows(ui.fleet);
    renderTabs(all);
    renderCards(all);
    renderCauses(all);
    renderTable(all);
    const n = all.length;
    $("foot-text").textContent = `${n} entit${n === 1 ? "y" : "ies"} · snapshot taken ${utc(Date.parse(ui.fleet.takenAt))} · refreshes every ${POLL_MS / 1000} s`;
  }

  // ---------- rendering: the history view (ended entities) ----------

  function endedName(e) {
    const a = e.attrs || {};
    if (a.jobsetName) return { name: (a.jobsetNamespace ? a.jobsetNamespace + "/" : "") + a.jobsetName, sub: e.key };
    if (a.lwsName) return { name: (a.lwsNamespace ? a.lwsNamespace + "/" : "") + a.lwsName, sub: e.key };
    return { name: e.key, sub: [a.tpuAccelerator, a.tpuTopology].filter(Boolean).join(" · ") };
  }

  /** A small up/down bar of a whole life, first sight to its end. */
  function miniTimeline(e) {
    const events = e.events || [];
    if (events.length === 0) return '<span class="dash">–</span>';
    const W = 240, H = 14;
    const startMs = Date.parse(events[0].ts), endMs = Math.max(Date.parse(e.endedAt), startMs);
    const span = Math.max(endMs - startMs, 1);
    const x = (ms) => (W * (ms - startMs)) / span;
    let out = `<svg class="mini-timeline" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="Timeline">`;
    for (const seg of segmentsOf(events, endMs)) {
      let w = x(seg.end) - x(seg.start);
      if (w <= 0) continue;
      if (seg.cls !== "seg-up") w = Math.max(w, 1.5);
      out += `<rect class="${seg.cls}" x="${x(seg.start).toFixed(2)}" y="0" width="${w.toFixed(2)}" height="${H}"><title>${esc(seg.label + " · " + human((seg.end - seg.start) * 1e6))}</title></rect>`;
    }
    return out + "</svg>";
  }

  function renderHistory() {
    for (const b of document.querySelectorAll("#view-tabs .tab")) b.setAttribute("aria-selected", String(b.dataset.view === ui.view));
    $("fleet-view").hidden = ui.view !== "fleet";
    $("history-view").hidden = ui.view !== "history";
    if (ui.view !== "history") return;
    const search = $("history-search");
    if (search.value !== ui.historyQ && document.activeElement !== search) search.value = ui.historyQ;
    const h = ui.history;
    const empty = $("history-empty");
    if (!h) { $("history-body").innerHTML = ""; empty.hidden = false; empty.textContent = "Loading the archive…"; return; }
    if (h.error) { $("history-body").innerHTML = ""; empty.hidden = false; empty.textContent = h.error; return; }
    const dash = '<span class="dash">–</span>';
    $("history-body").innerHTML = h.ended.map((e) => {
      const id = e.kind + "/" + e.key;
      const { name, sub } = endedName(e);
      const s = e.summary, p = pct(e.upPercent);
      const fam = FAMILIES[e.kind] ? FAMILIES[e.kind].one : e.kind;
      const open = ui.openEnded === id;
      let row = `<tr class="ended-row${open ? " selected" : ""}" tabindex="0" data-kind="${esc(e.kind)}" data-key="${esc(e.key)}">` +
        `<td class="col-entity"><div class="ent-name">${esc(name)}</div>${sub ? `<div class="ent-sub">${esc(sub)}</div>` : ""}</td>` +
        `<td class="fam">${esc(fam)}</td>` +
        `<td class="ts">${esc(utc(Date.parse(e.endedAt)).replace(" UTC", ""))}</td>` +
        `<td class="num">${p == null ? dash : p + "%"}</td>` +
        `<td class="num${s.interruptionCount > 0 ? " count-bad" : ""}">${s.interruptionCount}</td>` +
        `<td class="num">${s.recoveryCount > 0 ? human(s.meanDownTimeBetweenRecovery) : dash}</td>` +
        `<td class="num">${s.interruptionCount > 0 ? human(s.meanUpTimeBetweenInterruption) : dash}</td>` +
        `<td>${miniTimeline(e)}</td></tr>`;
      if (open) {
        const causes = Object.entries(e.causes || {}).map(([c, n]) => `${esc(c)} × ${n}`).join(" · ");
        row += `<tr class="ended-detail" data-detail="${esc(id)}"><td colspan="8"><div class="timeline-box">${timelineSvg({ events: e.events, takenAt: e.endedAt }, "ended")}</div>` +
          `<div class="ended-causes">${causes ? "Interruptions by cause: " + causes : "No interruptions"} · up ${human(s.upTime)}, down ${human(s.downTime)} · ended ${esc(utc(Date.parse(e.endedAt)))}</div></td></tr>`;
      }
      return row;
    }).join("");
    const n = h.ended.length;
    $("history-note").textContent = `· ${n}${h.truncated ? "+" : ""} shown, latest end first` + (h.errors && h.errors.length ? ` · ${h.errors.length} day file(s) unreadable` : "");
    empty.hidden = n > 0;
    if (n === 0) empty.textContent = ui.historyQ ? "No ended entity matches this search." : "No ended entities in the archive yet.";
  }

  async function refreshHistory(force) {
    if (ui.view !== "history") return;
    const q = ui.historyQ;
    if (!force && ui.historyAsked === q && Date.now() - ui.historyAt < HISTORY_EVERY_MS) return;
    ui.historyAsked = q;
    ui.historyAt = Date.now();
    try {
      const { status, body } = await getJson("api/v1/history" + (q ? "?q=" + encodeURIComponent(q) : ""));
      if (ui.historyAsked !== q) return; // a newer search is on its way
      ui.history = status === 200 && body ? body : { error: (body && body.error) || "HTTP " + status };
    } catch (e) {
      ui.history = { error: "cannot reach MegaMon: " + e.message };
    }
    renderHistory();
  }

  // ---------- rendering: one entity ----------

  function segmentsOf(events, endMs) {
    const segs = [];
    let seenUp = false;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      const start = Date.parse(ev.ts);
      const end = i + 1 < events.length ? Date.parse(events[i + 1].ts) : Math.max(endMs, start);
      let cls, label;
      if (ev.up) { cls = "seg-up"; label = "Up"; seenUp = true; }
      else if (ev.ed) { cls = "seg-planned"; label = "Planned down"; }
      else if (!seenUp) { cls = "seg-provisioning"; label = "Down, not yet up (provisioning)"; }
      else { cls = "seg-down"; label = "Down (interruption)"; }
      segs.push({ start, end, cls, label, open: i + 1 === events.length });
    }
    return segs;
  }

  function timelineSvg(detail, endLabel = "now") {
    const events = detail.events || [];
    const W = 672, X0 = 4, X1 = W - 4, BAR_Y = 8, BAR_H = 34, H = 66;
    if (events.length === 0) return '<p class="empty">No stored transitions.</p>';
    const startMs = Date.parse(events[0].ts);
    const endMs = Math.max(Date.parse(detail.takenAt), startMs);
    const span = Math.max(endMs - startMs, 1);
    const x = (ms) => X0 + ((ms - startMs) / span) * (X1 - X0);
    let out = `<svg class="timeline" viewBox="0 0 ${W} ${H}" role="img" aria-label="Up/down timeline">` +
      `<defs><pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">` +
      `<rect width="6" height="6" fill="#cfd6df"/><rect width="2.5" height="6" fill="#8491a3"/></pattern></defs>`;
    // Axis ticks: five evenly spaced times.
    for (let i = 0; i <= 4; i++) {
      const ms = startMs + (span * i) / 4;
      const tx = x(ms);
      const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
      out += `<line class="tick" x1="${tx}" x2="${tx}" y1="${BAR_Y + BAR_H}" y2="${BAR_Y + BAR_H + 5}"/>` +
        `<text class="axis-label" x="${tx}" y="${H - 4}" text-anchor="${anchor}">${esc(i === 4 ? endLabel : shortAxis(ms, span))}</text>`;
    }
    const segs = segmentsOf(events, endMs);
    segs.forEach((s, i) => {
      const x0 = x(s.start);
      let w = x(s.end) - x0;
      if (w <= 0 && s.end === s.start) return; // zero-length: an up on first sight
      if (s.cls !== "seg-up") w = Math.max(w, 2); // keep short outages visible
      const dur = human((s.end - s.start) * 1e6);
      const tip = `${s.label} · ${dur}\n${utc(s.start)} → ${s.open ? "now" : utc(s.end)}`;
      out += `<rect class="seg ${s.cls}" data-i="${i}" x="${x0.toFixed(2)}" y="${BAR_Y}" width="${w.toFixed(2)}" height="${BAR_H}" data-tip="${esc(tip)}"><title>${esc(tip)}</title></rect>`;
    });
    // Transition markers (skip the first sight, it is the left edge).
    events.forEach((ev, i) => {
      if (i === 0) return;
      const tx = x(Date.parse(ev.ts)).toFixed(2);
      const why = ev.cause ? `\n${ev.cause}${ev.detail ? ": " + ev.detail : ""}` : "";
      const tip = `${ev.up ? "Came up" : ev.ed ? "Went down (planned)" : "Went down"}\n${utc(Date.parse(ev.ts))}${why}`;
      out += `<line class="transition" x1="${tx}" x2="${tx}" y1="${BAR_Y - 4}" y2="${BAR_Y + BAR_H}" data-tip="${esc(tip)}"><title>${esc(tip)}</title></line>`;
    });
    return out + "</svg>";
  }

  function renderDetail() {
    const d = ui.detail;
    const drawer = $("drawer");
    if (!ui.selected) { drawer.hidden = true; $("scrim").hidden = true; return; }
    drawer.hidden = false;
    $("scrim").hidden = false;
    const fam = FAMILIES[ui.selected.kind];
    if (!d) {
      $("drawer-kicker").textContent = fam ? fam.one : ui.selected.kind;
      $("drawer-title").textContent = ui.selected.key;
      $("drawer-key").textContent = "";
      $("drawer-body").innerHTML = '<p class="empty">Loading…</p>';
      return;
    }
    if (d.error) {
      $("drawer-kicker").textContent = fam ? fam.one : ui.selected.kind;
      $("drawer-title").textContent = ui.selected.key;
      $("drawer-key").textContent = "";
      $("drawer-body").innerHTML = `<p class="empty">${esc(d.error)}</p>`;
      return;
    }
    const r = rows({ families: [{ kind: d.kind, entities: [d] }] })[0];
    const s = d.summary, u = d.upness;
    $("drawer-kicker").innerHTML = `${esc(fam ? fam.one : d.kind)} <span class="pill ${stateClass(d.state)}">${stateLabel(d.state)}</span>`;
    $("drawer-title").textContent = r.name;
    $("drawer-key").textContent = r.name === d.key ? (r.sub || "") : d.key;

    const stat = (label, value, bad) => `<div class="stat"><div class="stat-label">${esc(label)}</div><div class="stat-value${bad ? " bad" : ""}">${value}</div></div>`;
    const p = pct(d.upPercent);
    let html = "<h3>Summary</h3><div class=\"stats\" id=\"entity-stats\">" +
      stat("Up %", p == null ? "–" : p + "%") +
      stat("Time to first up", provisioning(s, r.firstUp), s.provisioningState === "failed") +
      stat("Up time", human(s.upTime)) +
      stat("Down time", human(s.downTime)) +
      stat("Interruptions", String(s.interruptionCount), s.interruptionCount > 0) +
      stat("MTBI", r.mtbi == null ? "–" : human(r.mtbi)) +
      stat("Recoveries", String(s.recoveryCount)) +
      stat("MTTR", r.mttr == null ? "–" : human(r.mttr)) +
      "</div>";

    html += `<h3>Timeline <span style="text-transform:none;font-weight:500">· ${esc(utc(Date.parse((d.events[0] || { ts: d.takenAt }).ts)))} → now</span></h3>` +
      `<div class="timeline-box" id="timeline">${timelineSvg(d)}` +
      `<div class="legend"><span><i class="l-up"></i>Up</span><span><i class="l-down"></i>Down (interruption)</span>` +
      `<span><i class="l-planned"></i>Planned down</span><span><i class="l-prov"></i>Provisioning (before first up)</span></div></div>`;

    const attrs = [
      ["Ready / expected", `${u.readyCount} / ${u.expectedCount}`],
      ["Unknown", String(u.unknownCount)],
      ["Status", u.status || "–"],
      ["Accelerator", u.tpuAccelerator],
      ["Topology", u.tpuTopology],
      ["TPU chips", u.tpuChipCount],
      ["Spot", u.spot ? "yes" : null],
      ["JobSet", u.jobsetName ? (u.jobsetNamespace ? u.jobsetNamespace + "/" : "") + u.jobsetName : null],
      ["JobSet uid", u.jobsetUID],
      ["LeaderWorkerSet", u.lwsName ? (u.lwsNamespace ? u.lwsNamespace + "/" : "") + u.lwsName : null],
      ["LeaderWorkerSet uid", u.lwsUID],
      ["Block", [u.blockID, u.blockName].filter(Boolean).join(" · ")],
      ["Sub-block", [u.subblockID, u.subblockName].filter(Boolean).join(" · ")],
      ["Node pool", u.nodePoolName],
      ["Slice", u.sliceName],
      ["Slice owner", u.sliceOwnerName ? `${u.sliceOwnerKind || ""} ${u.sliceOwnerNamespace ? u.sliceOwnerNamespace + "/" : ""}${u.sliceOwnerName}`.trim() : null],
      ["Scheduled JobSet", d.scheduled ? `${d.scheduled.jobsetName} (job ${d.scheduled.jobName})` : null],
    ].filter(([, v]) => v !== undefined && v !== null && v !== "");
    const kv = attrs.map(([k, v]) => `<div class="kv-item"><span>${esc(k)}</span><span>${esc(v)}</span></div>`).join("");

    const evs = d.events || [];
    const endMs = Date.parse(d.takenAt);
    const evRows = evs.map((ev, i) => {
      const t = Date.parse(ev.ts);
      const next = i + 1 < evs.length ? Date.parse(evs[i + 1].ts) : endMs;
      const flags = [ev.ed ? "planned" : "", ev.f ? "failed" : ""].filter(Boolean).join(", ");
      const prev = i > 0 ? evs[i - 1] : null;
      const what = i === 0 ? (flags ? `First seen (${flags})` : "First seen")
        : ev.up ? "Up"
        : prev && !prev.up ? (flags ? `Now ${flags}` : "No longer planned or failed")
        : flags ? `Down (${flags})` : "Down";
      const cls = ev.up ? "s-up" : ev.ed ? "s-planned" : ev.f ? "s-down" : i === 0 ? "s-prov" : "s-down";
      const cause = ev.cause ? `<span class="cause-cell">${esc(ev.cause)}</span>${ev.detail ? `<div class="cause-detail">${esc(ev.detail)}</div>` : ""}` : "";
      return `<tr><td class="ts">${esc(utc(t).replace(" UTC", ""))}</td><td><span class="pill ${cls}">${esc(what)}</span></td><td class="cause">${cause}</td><td>${human(Math.max(0, next - t) * 1e6)}${i + 1 === evs.length ? " so far" : ""}</td></tr>`;
    }).reverse();
    // Long-lived, flapping entities: the newest transitions are the useful ones.
    const MAX_ROWS = 100;
    const more = evRows.length > MAX_ROWS ? `<tr><td colspan="4" class="more">… ${evRows.length - MAX_ROWS} earlier transitions (all in the <a href="${esc(apiPath(d.kind, d.key))}">API</a>)</td></tr>` : "";

    html += `<h3>Transitions <span style="text-transform:none;font-weight:500">· newest first</span></h3>` +
      `<table class="events" id="events"><thead><tr><th>Time (UTC)</th><th>Change</th><th>Cause</th><th>Lasted</th></tr></thead><tbody>${evRows.slice(0, MAX_ROWS).join("")}${more}</tbody></table>` +
      `<h3>Attributes</h3><div class="kv-grid">${kv}</div>`;
    $("drawer-body").innerHTML = html;
  }

  // ---------- data ----------

  function showEmpty(text) {
    $("empty").hidden = false;
    $("empty").textContent = text;
  }

  function setStatus(state, text) {
    $("status").dataset.state = state;
    $("status-text").textContent = text;
  }

  function apiPath(kind, key) {
    return `api/v1/entities/${encodeURIComponent(kind)}/${encodeURIComponent(key)}`;
  }

  async function getJson(path) {
    // "no-cache": always ask, but let the browser revalidate with the ETag.
    const res = await fetch(path, { cache: "no-cache", headers: { Accept: "application/json" } });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON: reported below */ }
    return { status: res.status, body };
  }

  async function refreshFleet() {
    try {
      const { status, body } = await getJson("api/v1/fleet");
      if (status === 503) {
        setStatus("waiting", "waiting for the first aggregation");
        if (!ui.fleet) showEmpty("MegaMon is starting: waiting for its first aggregation of the fleet…");
        return;
      }
      if (status !== 200 || !body) throw new Error("HTTP " + status);
      const same = ui.fleet && ui.fleet.takenAt === body.takenAt;
      ui.fleet = body;
      const n = body.families.reduce((a, f) => a + f.entities.length, 0);
      setStatus("live", `live · ${n} entities · ${utc(Date.parse(body.takenAt))}`);
      if (!same) render();
    } catch (e) {
      setStatus("error", "cannot reach MegaMon, retrying (" + e.message + ")");
      if (!ui.fleet) showEmpty("Cannot reach MegaMon's API; retrying every " + POLL_MS / 1000 + " s.");
    }
  }

  async function refreshDetail() {
    const sel = ui.selected;
    if (!sel) return;
    try {
      const { status, body } = await getJson(apiPath(sel.kind, sel.key));
      if (ui.selected !== sel) return; // another entity was opened meanwhile
      // Same aggregation as shown: keep the DOM (and the hovered tooltip) as is.
      if (status === 200 && body && ui.detail && ui.detail.takenAt === body.takenAt) return;
      ui.detail = status === 200 && body ? body : { error: (body && body.error) || "HTTP " + status };
    } catch (e) {
      if (ui.selected !== sel) return;
      if (!ui.detail) ui.detail = { error: "cannot reach MegaMon: " + e.message };
    }
    renderDetail();
  }

  async function tick() {
    await Promise.all([refreshFleet(), refreshDetail(), refreshHistory(false)]);
    setTimeout(tick, POLL_MS);
  }

  // ---------- navigation: the URL fragment names the open entity ----------

  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const fam = params.get("family");
    // Family names come from the server; only their shape is checked here.
    if (fam && /^[a-z][a-z-]*$/.test(fam)) ui.family = fam;
    const view = params.get("view") === "history" ? "history" : "fleet";
    const q = params.get("q") || "";
    ui.openEnded = params.get("ended");
    if (view !== ui.view || q !== ui.historyQ) {
      ui.view = view;
      ui.historyQ = q;
      refreshHistory(true);
    }
    renderHistory();
    const ent = params.get("entity");
    const slash = ent ? ent.indexOf("/") : -1;
    const next = slash > 0 ? { kind: ent.slice(0, slash), key: ent.slice(slash + 1) } : null;
    const same = next && ui.selected && next.kind === ui.selected.kind && next.key === ui.selected.key;
    if (!same) {
      ui.selected = next;
      ui.detail = null;
      renderDetail();
      refreshDetail();
    }
    render();
  }

  function writeHash() {
    const parts = [];
    if (ui.view === "history") {
      parts.push("view=history");
      if (ui.historyQ) parts.push("q=" + encodeURIComponent(ui.historyQ));
      if (ui.openEnded) parts.push("ended=" + encodeURIComponent(ui.openEnded));
    }
    if (ui.family !== "all") parts.push("family=" + encodeURIComponent(ui.family));
    if (ui.selected) parts.push("entity=" + encodeURIComponent(ui.selected.kind) + "/" + encodeURIComponent(ui.selected.key));
    const hash = parts.length ? "#" + parts.join("&") : "";
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
  }

  function open(kind, key) {
    ui.selected = { kind, key };
    ui.detail = null;
    writeHash();
    render();
    renderDetail();
    refreshDetail();
  }

  function close() {
    ui.selected = null;
    ui.detail = null;
    writeHash();
    render();
    renderDetail();
  }

  // ---------- events ----------

  $("family-tabs").addEventListener("click", (ev) => {
    const b = ev.target.closest(".tab");
    if (!b) return;
    ui.family = b.dataset.family;
    writeHash();
    render();
  });
  $("view-tabs").addEventListener("click", (ev) => {
    const b = ev.target.closest(".tab");
    if (!b || b.dataset.view === ui.view) return;
    ui.view = b.dataset.view;
    writeHash();
    renderHistory();
    refreshHistory(true);
  });
  let historyTyping = null;
  $("history-search").addEventListener("input", (ev) => {
    ui.historyQ = ev.target.value.trim();
    writeHash();
    clearTimeout(historyTyping);
    historyTyping = setTimeout(() => refreshHistory(true), 250);
  });
  const toggleEnded = (tr) => {
    const id = tr.dataset.kind + "/" + tr.dataset.key;
    ui.openEnded = ui.openEnded === id ? null : id;
    writeHash();
    renderHistory();
  };
  $("history-body").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr.ended-row");
    if (tr) toggleEnded(tr);
  });
  $("history-body").addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr.ended-row");
    if (tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggleEnded(tr); }
  });
  $("state-filter").addEventListener("change", (ev) => { ui.state = ev.target.value; render(); });
  $("search").addEventListener("input", (ev) => { ui.search = ev.target.value; render(); });
  document.querySelector("#fleet thead").addEventListener("click", (ev) => {
    const th = ev.target.closest("th");
    if (!th) return;
    const col = th.dataset.sort;
    ui.sort = ui.sort.col === col ? { col, dir: -ui.sort.dir } : { col, dir: 1 };
    render();
  });
  $("fleet-body").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr.entity-row");
    if (tr) open(tr.dataset.kind, tr.dataset.key);
  });
  $("fleet-body").addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr.entity-row");
    if (tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); open(tr.dataset.kind, tr.dataset.key); }
  });
  $("drawer-close").addEventListener("click", close);
  $("scrim").addEventListener("click", close);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && ui.selected) close(); });
  window.addEventListener("hashchange", readHash);

  // Tooltips for the timeline: faster and richer than the SVG <title> fallback.
  const tooltip = $("tooltip");
  $("drawer-body").addEventListener("mousemove", (ev) => {
    const t = ev.target.closest("[data-tip]");
    if (!t) { tooltip.hidden = true; return; }
    const [head, ...rest] = t.dataset.tip.split("\n");
    tooltip.innerHTML = `<b>${esc(head)}</b><div class="tt-ts">${esc(rest.join(" "))}</div>`;
    tooltip.hidden = false;
    const r = tooltip.getBoundingClientRect();
    tooltip.style.left = Math.min(ev.clientX + 12, window.innerWidth - r.width - 8) + "px";
    tooltip.style.top = ev.clientY + 16 + "px";
  });
  $("drawer-body").addEventListener("mouseleave", () => { tooltip.hidden = true; });

  readHash();
  tick();
})();
