// bo-scheduler dashboard: polls the JSON API and redraws; no build step, no framework.
"use strict";
const BO = (() => {
  const MAX_ROWS = 1000;  // rows drawn in the table; filters and sorting see them all

  async function get(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  function text(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
    return String(value);
  }

  function showError(error) {
    const el = document.getElementById("error");
    if (!el) return;
    el.hidden = !error;
    el.textContent = error ? String(error) : "";
  }

  function counts(byStatus) {
    return Object.entries(byStatus).map(([k, v]) => `${k} ${v}`).join(", ");
  }

  function bestText(best) {
    if (!best) return "none yet";
    const values = Object.entries(best.values).map(([k, v]) => `${k}=${text(v)}`).join(", ");
    return `trial ${best.trial_index}: ${values}`;
  }

  function every(seconds, work) {
    const tick = async () => {
      try { await work(); showError(null); } catch (error) { showError(error); }
      setTimeout(tick, seconds * 1000);
    };
    tick();
  }

  function startIndex(seconds) {
    every(seconds, async () => {
      const rows = await get("/api/experiments");
      const body = document.querySelector("#experiments tbody");
      body.replaceChildren(...rows.map((r) => {
        const tr = document.createElement("tr");
        const cells = [r.experiment, r.trials, counts(r.trials_by_status), bestText(r.best),
          r.trials_out, r.last_activity, r.daemon];
        cells.forEach((value, i) => {
          const td = document.createElement("td");
          if (i === 0) {
            const a = document.createElement("a");
            a.href = `/experiments/${encodeURIComponent(value)}`;
            a.textContent = value;
            td.appendChild(a);
          } else td.textContent = text(value);
          tr.appendChild(td);
        });
        return tr;
      }));
    });
  }

  function startExperiment(name, seconds) {
    const base = `/api/experiments/${encodeURIComponent(name)}`;
    const state = { sort: "trial_index", descending: false, status: "", table: null, refreshes: 0 };
    const $ = (id) => document.getElementById(id);

    function fillSelect(select, options, chosen) {
      const current = select.value || chosen;
      if (select.options.length === options.length) return;
      select.replaceChildren(...options.map((o) => new Option(o, o, false, o === current)));
    }

    function drawTable() {
      const table = state.table;
      if (!table) return;
      const col = table.columns.indexOf(state.sort);
      const statusCol = table.columns.indexOf("status");
      let rows = table.rows.filter((r) => !state.status || r[statusCol] === state.status);
      if (col >= 0) {
        rows = rows.slice().sort((a, b) => {
          const x = a[col], y = b[col];
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          const order = x < y ? -1 : 1;
          return state.descending ? -order : order;
        });
      }
      const head = document.createElement("tr");
      table.columns.forEach((c) => {
        const th = document.createElement("th");
        th.textContent = c + (c === state.sort ? (state.descending ? " ▼" : " ▲") : "");
        th.dataset.column = c;
        th.onclick = () => {
          state.descending = state.sort === c ? !state.descending : false;
          state.sort = c;
          drawTable();
        };
        head.appendChild(th);
      });
      document.querySelector("#trials thead").replaceChildren(head);
      document.querySelector("#trials tbody").replaceChildren(...rows.slice(0, MAX_ROWS).map((r) => {
        const tr = document.createElement("tr");
        tr.className = r[statusCol];
        r.forEach((value, i) => {
          const td = document.createElement("td");
          td.textContent = text(value);
          if (typeof value === "number") td.className = "num";
          if (table.columns[i] === "reason") { td.className = "reason"; td.title = text(value); }
          tr.appendChild(td);
        });
        return tr;
      }));
      $("shown").textContent = rows.length > MAX_ROWS
        ? `showing ${MAX_ROWS} of ${rows.length}` : `${rows.length} shown`;
    }

    function drawPlots(figures) {
      for (const [key, figure] of Object.entries(figures)) {
        const div = $(`plot-${key}`);
        if (!div) continue;
        div.hidden = false;
        const layout = Object.assign({}, figure.layout, { uirevision: key, autosize: true });
        Plotly.react(div, figure.data, layout, { responsive: true, displaylogo: false });
      }
    }

    async function refresh() {
      const summary = await get(base);
      $("trial-count").textContent = summary.trials;
      $("status-counts").textContent = counts(summary.trials_by_status);
      $("trials-out").textContent = summary.trials_out;
      $("daemon").textContent = summary.daemon;
      $("last-activity").textContent = summary.last_activity || "";
      $("best").textContent = summary.pareto
        ? `Pareto set: ${summary.pareto.length} trial(s) (${summary.pareto.join(", ")})`
        : bestText(summary.best);
      const numeric = summary.numeric_parameters;
      fillSelect($("contour-x"), numeric, numeric[0]);
      fillSelect($("contour-y"), numeric, numeric[1]);
      const statuses = Object.keys(summary.trials_by_status);
      const filter = $("status-filter");
      for (const s of statuses) {
        if (![...filter.options].some((o) => o.value === s)) filter.add(new Option(s, s));
      }
      const query = new URLSearchParams({
        log: $("log-y").checked ? "1" : "0", x: $("contour-x").value, y: $("contour-y").value,
      });
      const [table, figures] = await Promise.all([get(`${base}/trials`), get(`${base}/plots?${query}`)]);
      state.table = table;
      drawTable();
      drawPlots(figures);
      state.refreshes += 1;
      document.body.dataset.refreshes = String(state.refreshes);
      $("updated").textContent = new Date().toLocaleTimeString();
    }

    document.addEventListener("DOMContentLoaded", () => {
      $("status-filter").onchange = (e) => { state.status = e.target.value; drawTable(); };
      for (const id of ["log-y", "contour-x", "contour-y"]) $(id).onchange = () => refresh().catch(showError);
      every(seconds, refresh);
    });
  }

  return { startIndex, startExperiment };
})();
