// DeepRead's dashboard: keyboard and display behaviour shared by every page (tabs, menus, local times, zoom, busy
// buttons). No inline script anywhere: the Content-Security-Policy forbids it.
(function () {
  "use strict";

  // --- tabs: arrow keys, Home and End move between tabs; only the selected tab is a tab stop ---------------------
  function selectTab(tab) {
    const list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach(function (other) {
      const selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      const panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  }

  document.addEventListener("click", function (event) {
    const tab = event.target.closest("[role=tab]");
    if (tab) selectTab(tab);
  });

  document.addEventListener("keydown", function (event) {
    const tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab) return;
    const tabs = Array.from(tab.closest("[role=tablist]").querySelectorAll("[role=tab]"));
    const at = tabs.indexOf(tab);
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const target = tabs[(next + tabs.length) % tabs.length];
    selectTab(target);
    target.focus();
  });

  // --- menus: Escape closes an open <details> menu and gives focus back to its summary --------------------------
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[open]").forEach(function (menu) {
      menu.open = false;
      if (menu.contains(document.activeElement)) menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.account[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  // --- times: the server writes UTC, labelled; the browser shows its own local time with the zone ---------------
  const LOCAL = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  function localTimes(root) {
    root.querySelectorAll("time.local-time[datetime]:not([data-local])").forEach(function (el) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.dataset.local = "1";
      el.title = el.textContent;  // the UTC value stays at hand
      el.textContent = LOCAL.format(when);
    });
  }

  // --- the page image: zoom in steps and pan by scrolling or dragging -------------------------------------------
  function initZoom(root) {
    const scroller = root.querySelector("#page-scroll");
    const stack = root.querySelector("#page-stack");
    const level = root.querySelector("#zoom-level");
    if (!scroller || !stack) return;
    let zoom = 1;
    function apply() {
      stack.style.width = zoom === 1 ? "" : (zoom * 100) + "%";
      level.textContent = Math.round(zoom * 100) + " %";
    }
    root.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        const how = button.dataset.zoom;
        zoom = how === "fit" ? 1 : Math.min(4, Math.max(1, zoom * (how === "in" ? 1.5 : 1 / 1.5)));
        apply();
      });
    });
    let drag = null;
    scroller.addEventListener("pointerdown", function (e) {
      if (zoom === 1) return;
      drag = { x: e.clientX, y: e.clientY, left: scroller.scrollLeft, top: scroller.scrollTop };
      scroller.setPointerCapture(e.pointerId);
    });
    scroller.addEventListener("pointermove", function (e) {
      if (!drag) return;
      scroller.scrollLeft = drag.left - (e.clientX - drag.x);
      scroller.scrollTop = drag.top - (e.clientY - drag.y);
    });
    ["pointerup", "pointercancel"].forEach(function (type) {
      scroller.addEventListener(type, function () { drag = null; });
    });
  }

  // --- the mode editor: templates ask before replacing a typed prompt; the preview shows it is busy -------------
  function initEditor(form) {
    const prompt = form.querySelector("#id_prompt");
    if (!prompt) return;
    const templates = Array.from(form.querySelectorAll("[data-template]")).map(function (b) {
      return b.dataset.template;
    });
    form.addEventListener("click", function (event) {
      const button = event.target.closest("[data-template]");
      if (!button) return;
      const typed = prompt.value.trim();
      if (typed && templates.indexOf(prompt.value) < 0 && !window.confirm("Replace the prompt you typed with this template?")) {
        event.stopImmediatePropagation();
        event.preventDefault();
      }
    }, true);
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    const form = e.target.closest && e.target.closest("#preview-form");
    if (!form) return;
    form.setAttribute("aria-busy", "true");
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
      b.disabled = true;
      b.dataset.label = b.dataset.label || b.textContent;
      b.textContent = "Running…";
    });
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    const form = e.target.closest && e.target.closest("#preview-form");
    if (!form) return;
    form.removeAttribute("aria-busy");
    form.querySelectorAll("button[disabled]").forEach(function (b) {
      b.disabled = false;
      if (b.dataset.label) b.textContent = b.dataset.label;
    });
  });

  // --- the job list: pick rows, one bar of actions for them; a count that says how many --------------------------
  function initBulk(form) {
    const all = form.querySelector("[data-pick-all]");
    function boxes() { return Array.from(form.querySelectorAll("input[name=ids]")); }
    function refresh() {
      const picked = boxes().filter(function (b) { return b.checked; }).length;
      form.querySelector("#bulk-count").textContent = picked + " selected";
      form.querySelectorAll("[data-bulk]").forEach(function (b) { b.disabled = picked === 0; });
      if (all) {
        all.checked = picked > 0 && picked === boxes().length;
        all.indeterminate = picked > 0 && picked < boxes().length;
      }
    }
    form.addEventListener("change", function (event) {
      if (event.target === all) boxes().forEach(function (b) { b.checked = all.checked; });
      refresh();
    });
    form.addEventListener("submit", function () {
      // back to the list as it is now (filters pushed into the address by htmx), not as it was first served
      form.querySelector("input[name=next]").value = window.location.pathname + window.location.search;
    });
    document.body.addEventListener("htmx:afterSettle", refresh);
    refresh();
  }
  // a button that needs a confirmation (a delete); the answer is asked before the form goes
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  function init(root) {
    localTimes(root);
    const bulk = root.querySelector("#bulk-form");
    if (bulk) initBulk(bulk);
    initZoom(root);
    const editor = root.querySelector("#mode-form");
    if (editor) initEditor(editor);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { localTimes(document); });
})();
