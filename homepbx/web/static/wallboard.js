// homepbx wallboard: one server-sent event stream, rendered with textContent only
// (names and pause reasons never become markup), updated in place.
"use strict";

(function () {
  const body = document.body;
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const tv = body.dataset.tv === "1";
  const modes = (body.dataset.modes || "").split(",").filter(Boolean);
  const team = body.dataset.team || "";
  const ORDER = ["on call", "ringing", "wrap-up", "paused", "available", "logged out"];
  const LABEL = { listen: "Listen", whisper: "Whisper", barge: "Barge" };
  const DOING = { listen: "listening to", whisper: "whispering to", barge: "barging in on" };

  const agents = new Map(); // extension -> {data, row}
  const queues = new Map(); // name -> {data, row}
  let offset = 0; // server clock - this clock, seconds

  const agentBody = document.querySelector("#agents tbody");
  const queueBody = document.querySelector("#queues tbody");
  const statusBox = document.getElementById("status");
  const notice = document.getElementById("notice");
  const clock = document.getElementById("clock");

  function now() { return Date.now() / 1000 + offset; }

  function duration(since) {
    if (!since) return "";
    let s = Math.max(0, Math.floor(now() - since));
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    return h ? h + ":" + mm + ":" + ss : m + ":" + ss;
  }

  function cell(row, cls, text) {
    const td = document.createElement("td");
    td.className = cls;
    if (text !== undefined) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function say(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  async function spy(agent, mode, buttons) {
    buttons.forEach((b) => { b.disabled = true; });
    say("Ringing your softphone to " + mode + " " + agent + "…");
    try {
      const form = new URLSearchParams({ agent: agent, mode: mode, csrf: csrf });
      const res = await fetch("/spy", { method: "POST", body: form, credentials: "same-origin",
                                        headers: { "X-CSRF-Token": csrf } });
      const out = await res.json();
      say(out.ok ? "You are " + (DOING[mode] || mode) + " agent " + out.agent + "." : "Refused: " + out.error);
    } catch (err) {
      say("The server did not answer: " + err);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function renderAgent(entry) {
    const a = entry.data;
    let row = entry.row;
    if (!row) {
      row = entry.row = document.createElement("tr");
      row.dataset.agent = a.agent;
      cell(row, "ext", a.agent);
      cell(row, "name", a.name || "");
      cell(row, "team", a.team || "");
      const st = cell(row, "state");
      st.appendChild(document.createElement("span"));
      cell(row, "for");
      cell(row, "queue");
      cell(row, "reason");
      if (!tv) cell(row, "actions");
    }
    row.className = "s-" + a.state.replace(/ /g, "-");
    row.querySelector(".state span").textContent = a.state;
    row.querySelector(".for").textContent = a.state === "logged out" ? "" : duration(a.since);
    row.querySelector(".queue").textContent = a.queue || "";
    row.querySelector(".reason").textContent = a.state === "paused" ? (a.reason || "") : "";
    if (!tv) {
      const actions = row.querySelector(".actions");
      const want = a.state === "on call" ? modes.join(",") : "";
      if (actions.dataset.modes !== want) {
        actions.dataset.modes = want;
        actions.replaceChildren();
        const buttons = [];
        for (const mode of want ? modes : []) {
          const b = document.createElement("button");
          b.type = "button";
          b.dataset.mode = mode;
          b.textContent = LABEL[mode] || mode;
          b.addEventListener("click", () => spy(a.agent, mode, buttons));
          buttons.push(b);
          actions.appendChild(b);
        }
      }
    }
  }

  function sortAgents() {
    const rows = [...agents.values()].sort((x, y) =>
      (ORDER.indexOf(x.data.state) - ORDER.indexOf(y.data.state)) ||
      (x.data.agent < y.data.agent ? -1 : x.data.agent > y.data.agent ? 1 : 0));
    rows.forEach((e) => agentBody.appendChild(e.row));
  }

  function pct(v) { return v === null || v === undefined ? "" : Math.round(v * 100) + "%"; }

  function renderQueue(entry) {
    const q = entry.data;
    let row = entry.row;
    if (!row) {
      row = entry.row = document.createElement("tr");
      row.dataset.queue = q.queue;
      cell(row, "name", q.queue);
      cell(row, "waiting");
      cell(row, "longest");
      cell(row, "answered");
      cell(row, "abandoned");
      cell(row, "level");
      queueBody.appendChild(row);
    }
    const w = row.querySelector(".waiting");
    w.textContent = String(q.waiting || 0);
    w.classList.toggle("busy", (q.waiting || 0) > 0);
    row.querySelector(".longest").textContent = q.oldest ? duration(q.oldest) : "";
    row.querySelector(".answered").textContent = q.answered === undefined ? "" : String(q.answered);
    row.querySelector(".abandoned").textContent = q.abandoned === undefined ? "" : String(q.abandoned);
    row.querySelector(".level").textContent = pct(q.service_level);
  }

  function status(up, text) {
    statusBox.textContent = up ? "" : (text || "The PBX cannot be reached.");
    statusBox.hidden = up;
  }

  function handle(msg) {
    if (msg.type === "snapshot") {
      offset = msg.now - Date.now() / 1000;
      agents.clear(); queues.clear();
      agentBody.replaceChildren(); queueBody.replaceChildren();
      for (const a of msg.agents) { const e = { data: a, row: null }; agents.set(a.agent, e); renderAgent(e); }
      for (const q of msg.queues) { const e = { data: q, row: null }; queues.set(q.queue, e); renderQueue(e); }
      sortAgents();
      status(msg.up, msg.text);
    } else if (msg.type === "agent") {
      const e = agents.get(msg.agent.agent);
      if (!e) return;
      const old = e.data.state;
      Object.assign(e.data, msg.agent);
      renderAgent(e);
      if (old !== e.data.state) sortAgents();
    } else if (msg.type === "queue") {
      const e = queues.get(msg.queue.queue);
      if (!e) return;
      Object.assign(e.data, msg.queue);
      renderQueue(e);
    } else if (msg.type === "figures") {
      for (const [name, f] of Object.entries(msg.figures)) {
        const e = queues.get(name);
        if (e) { Object.assign(e.data, f); renderQueue(e); }
      }
    } else if (msg.type === "status") {
      status(msg.up, msg.text);
    }
  }

  function tick() {
    for (const e of agents.values()) {
      if (e.row && e.data.state !== "logged out") e.row.querySelector(".for").textContent = duration(e.data.since);
    }
    for (const e of queues.values()) {
      if (e.row) e.row.querySelector(".longest").textContent = e.data.oldest ? duration(e.data.oldest) : "";
    }
    clock.textContent = new Date().toLocaleTimeString();
  }

  const source = new EventSource("/events" + (team ? "?team=" + encodeURIComponent(team) : ""));
  source.addEventListener("message", (ev) => handle(JSON.parse(ev.data)));
  source.addEventListener("error", () => status(false, "Reconnecting to the server…"));
  setInterval(tick, 1000);
  tick();
})();
