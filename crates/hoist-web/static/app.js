// Live updates for hoist ui. Everything works without this file except what changes while
// the page is open. Text from jobs is only ever set with textContent, never as HTML.
"use strict";
(function () {
  const live = document.getElementById("live");
  const TERMINAL = ["Complete", "Error", "Canceled"];
  const CLASSES = {
    Complete: "st-complete", Error: "st-error", Running: "st-running",
    Canceled: "st-canceled", Canceling: "st-canceled", Unknown: "st-unknown",
    Pending: "st-pending", Paused: "st-pending",
  };

  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  });

  function setStatus(el, status) {
    el.textContent = status;
    el.className = el.className.replace(/\bst-[a-z]+\b/g, "").trim() + " " + (CLASSES[status] || "st-other");
  }

  function stream(url, handlers) {
    const es = new EventSource(url);
    es.onopen = () => live && live.classList.add("on");
    es.onerror = () => live && live.classList.remove("on");
    for (const [name, fn] of Object.entries(handlers)) {
      es.addEventListener(name, (e) => fn(e, es));
    }
    return es;
  }

  const page = document.body.dataset.page;
  if (page === "jobs") {
    stream("/api/events", {
      job: (e) => {
        const j = JSON.parse(e.data);
        const row = document.querySelector('tr[data-id="' + CSS.escape(j.job_id) + '"]');
        if (!row) {
          document.getElementById("fresh").hidden = false;
          return;
        }
        setStatus(row.querySelector('[data-field="status"]'), j.status);
        row.querySelector('[data-field="exit"]').textContent = j.exit_code == null ? "" : String(j.exit_code);
        row.querySelector('[data-field="message"]').textContent = (j.message || "").split("\n")[0];
      },
      lagged: () => { document.getElementById("fresh").hidden = false; },
    });
  }

  if (page === "job") {
    const st = document.getElementById("status");
    const id = st.dataset.job;
    const wasLive = !TERMINAL.includes(st.textContent);
    stream("/api/events?job=" + encodeURIComponent(id), {
      job: (e) => {
        const j = JSON.parse(e.data);
        setStatus(st, j.status);
        // The page of an ended job has its why and final log: load it once.
        if (wasLive && TERMINAL.includes(j.status)) window.location.reload();
      },
    });
    const log = document.getElementById("log");
    if (log && log.dataset.follow) {
      let first = true;
      stream(log.dataset.follow, {
        log: (e) => {
          const text = JSON.parse(e.data);
          // The stream starts with the same tail the page was rendered with.
          if (first) { log.textContent = ""; first = false; }
          log.textContent += text;
          log.scrollTop = log.scrollHeight;
        },
        end: (_e, es) => es.close(),
      });
    }
  }
})();
