// DeepRead's dashboard behaviour. No inline script anywhere: the Content-Security-Policy forbids it.
(function () {
  "use strict";

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // --- copy buttons -------------------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    const done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      source.select();
      document.execCommand("copy");
      done();
    }
  });

  // --- maths ----------------------------------------------------------------------------------------------------
  function typeset(root) {
    if (!window.renderMathInElement) return;
    root.querySelectorAll(".math").forEach(function (el) {
      window.renderMathInElement(el, {
        delimiters: [
          { left: "\\[", right: "\\]", display: true },
          { left: "$$", right: "$$", display: true },
          { left: "\\(", right: "\\)", display: false },
        ],
        throwOnError: false,
      });
    });
  }

  // --- the result viewer ------------------------------------------------------------------------------------------
  function initViewer(root) {
    const toggle = root.querySelector("#toggle-boxes");
    const overlay = root.querySelector("#overlay");
    if (toggle && overlay) {
      toggle.addEventListener("change", function () { overlay.classList.toggle("hidden", !toggle.checked); });
    }
    function highlight(index, on) {
      root.querySelectorAll('[data-block="' + index + '"]').forEach(function (el) { el.classList.toggle("hl", on); });
    }
    root.querySelectorAll("[data-block]").forEach(function (el) {
      const index = el.dataset.block;
      el.addEventListener("mouseenter", function () { highlight(index, true); });
      el.addEventListener("mouseleave", function () { highlight(index, false); });
      el.addEventListener("focus", function () { highlight(index, true); });
      el.addEventListener("blur", function () { highlight(index, false); });
    });
    const tabs = root.querySelectorAll("[role=tab]");
    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () {
        tabs.forEach(function (other) {
          const selected = other === tab;
          other.setAttribute("aria-selected", selected ? "true" : "false");
          document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
        });
      });
    });
  }

  // --- uploads --------------------------------------------------------------------------------------------------
  const ALLOWED = ["image/png", "image/jpeg", "image/bmp", "image/tiff", "application/pdf"];
  const BY_EXTENSION = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", bmp: "image/bmp",
    tif: "image/tiff", tiff: "image/tiff", pdf: "application/pdf" };

  function contentType(file) {
    if (ALLOWED.indexOf(file.type) >= 0) return file.type;
    const extension = (file.name.split(".").pop() || "").toLowerCase();
    return BY_EXTENSION[extension] || file.type || "";
  }

  function uploadRow(list, file, mode) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name + " · " + mode;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name + " in " + mode);
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = "waiting";
    item.append(name, bar, state);
    list.append(item);
    return { item: item, bar: bar, state: state };
  }

  function fail(row, message) {
    row.item.classList.remove("done");
    row.item.classList.add("failed");
    row.state.textContent = "✕ " + message;
    if (row.bar.parentNode) row.bar.remove();
  }

  function showRemaining(remaining) {
    const counter = document.getElementById("quota-remaining");
    if (counter && typeof remaining === "number") counter.textContent = String(remaining);
  }

  function post(url, fields) {
    const body = new FormData();
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }

  // The server refused the file (or the upload broke off): the job would wait for a file that never comes, so
  // it is cancelled at once and its request given back. The row says so, and the quota shown is updated.
  function abandon(ticket, row, message) {
    fail(row, message);
    return post(ticket.abandon_url, { reason: message }).then(function (answer) {
      if (!answer.ok) return;
      showRemaining(answer.data.remaining);
      if (answer.data.status === "cancelled") row.state.textContent = "✕ " + message + " (not charged)";
    }).catch(function () { /* the sweep cancels it when its URL expires */ });
  }

  // An accepted upload: the row follows its job until it ends, then links to the result or says why it failed.
  function follow(ticket, row) {
    let delay = 1000;
    function show(state) {
      row.state.textContent = "";
      const link = document.createElement("a");
      link.href = ticket.job_url;
      if (state.status === "completed") {
        row.item.classList.add("completed");
        link.textContent = "✓ done: view the result";
      } else if (state.status === "failed" || state.status === "cancelled") {
        fail(row, state.error || "failed");
        link.textContent = " details";
      } else {
        const pages = state.page_count ? " (" + state.pages_done + "/" + state.page_count + " pages)" : "";
        link.textContent = "✓ uploaded, " + state.status + pages + ": view";
      }
      row.state.append(link);
    }
    function poll() {
      fetch(ticket.state_url, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (state) {
        if (!state) return;
        show(state);
        if (!state.terminal) { delay = Math.min(delay * 1.5, 10000); setTimeout(poll, delay); }
      }).catch(function () { setTimeout(poll, 10000); });
    }
    show({ status: "processing" });
    setTimeout(poll, delay);
  }

  // The file's SHA-256 as hex, or "" where the browser cannot hash (crypto.subtle needs a secure context: HTTPS or
  // localhost); the server then matches by name and size.
  function sha256(file) {
    if (!(window.crypto && window.crypto.subtle && file.arrayBuffer)) return Promise.resolve("");
    return file.arrayBuffer().then(function (bytes) {
      return window.crypto.subtle.digest("SHA-256", bytes);
    }).then(function (digest) {
      return Array.from(new Uint8Array(digest)).map(function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    }).catch(function () { return ""; });
  }

  // {mode: earlier job} for the modes in which this account already read the same file; {} when none (or unknown).
  function duplicatesOf(form, file, modes) {
    return sha256(file).then(function (digest) {
      const query = new URLSearchParams({ sha256: digest, filename: file.name, size: String(file.size) });
      modes.forEach(function (mode) { query.append("mode", mode); });
      return fetch(form.dataset.duplicatesUrl + "?" + query.toString(), { credentials: "same-origin" });
    }).then(function (response) {
      return response.ok ? response.json() : { duplicates: {} };
    }).then(function (data) { return data.duplicates || {}; }).catch(function () { return {}; });
  }

  const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  // A file this account uploaded before in this mode: nothing is sent (or spent) until "Upload again".
  function hold(row, earlier, send) {
    row.item.classList.add("held");
    if (row.bar.parentNode) row.bar.hidden = true;
    row.state.textContent = "already uploaded on " + WHEN.format(new Date(earlier.created_at)) + " — ";
    const view = document.createElement("a");
    view.href = earlier.job_url;
    view.textContent = "view";
    const again = document.createElement("button");
    again.type = "button";
    again.className = "link";
    again.textContent = "upload again";
    again.setAttribute("aria-label", "Upload " + row.item.querySelector(".name").textContent + " again");
    again.addEventListener("click", function () {
      row.item.classList.remove("held");
      row.bar.hidden = false;
      row.state.textContent = "waiting";
      send();
    });
    row.state.append(view, " / ", again);
  }

  // Resolves true when the server accepted the file, false when it (or the browser) refused it.
  function sendOne(form, file, mode, row) {
    return post(form.dataset.ticketUrl, {
      filename: file.name, content_type: contentType(file), size: String(file.size), mode: mode,
      force_ocr: form.querySelector("input[name=force_ocr]:checked") ? "1" : "",
    }).then(function (answer) {
      if (!answer.ok) { fail(row, answer.data.error || "refused"); return false; }
      const ticket = answer.data;
      showRemaining(ticket.remaining);
      row.state.textContent = "uploading";
      return new Promise(function (resolve) {
        const xhr = new XMLHttpRequest();
        xhr.open("PUT", ticket.upload_url);
        xhr.setRequestHeader("Content-Type", contentType(file));
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) row.bar.value = Math.round((e.loaded / e.total) * 100);
        });
        xhr.addEventListener("load", function () {
          if (xhr.status >= 200 && xhr.status < 300) {
            row.bar.value = 100;
            row.item.classList.add("done");
            follow(ticket, row);
            resolve(true);
            return;
          }
          let message = "upload refused";
          try { message = JSON.parse(xhr.responseText).detail || message; } catch (ignored) { /* not JSON */ }
          abandon(ticket, row, message).then(function () { resolve(false); });
        });
        xhr.addEventListener("error", function () {
          abandon(ticket, row, "network error").then(function () { resolve(false); });
        });
        xhr.send(file);
      });
    }).catch(function () { fail(row, "network error"); return false; });
  }

  function initUpload(form) {
    const input = form.querySelector("#files");
    const drop = form.querySelector("#drop");
    const list = document.getElementById("uploads");
    const status = document.getElementById("upload-status");
    const after = document.getElementById("after-upload");
    const maxBytes = parseInt(form.dataset.maxBytes, 10);

    function start(files) {
      const modes = Array.from(form.querySelectorAll("input[name=mode]:checked")).map(function (c) { return c.value; });
      if (!modes.length) { status.textContent = "Choose at least one mode first."; return; }
      status.textContent = "";
      let chain = Promise.resolve();
      let total = 0;
      let accepted = 0;
      let held = 0;
      Array.from(files).forEach(function (file) {
        const waiting = [];
        modes.forEach(function (mode) {
          const row = uploadRow(list, file, mode);
          total += 1;
          if (ALLOWED.indexOf(contentType(file)) < 0) { fail(row, "not a PNG, JPEG, BMP, TIFF or PDF file"); return; }
          if (file.size > maxBytes) { fail(row, "larger than the upload limit"); return; }
          if (file.size === 0) { fail(row, "the file is empty"); return; }
          waiting.push({ mode: mode, row: row });
        });
        if (!waiting.length) return;
        // Before anything is spent: has this account read the same file in these modes already?
        chain = chain.then(function () {
          return duplicatesOf(form, file, waiting.map(function (w) { return w.mode; })).then(function (found) {
            let sends = Promise.resolve();
            waiting.forEach(function (w) {
              if (found[w.mode]) {
                held += 1;
                hold(w.row, found[w.mode], function () { return sendOne(form, file, w.mode, w.row); });
                return;
              }
              sends = sends.then(function () {
                return sendOne(form, file, w.mode, w.row).then(function (ok) { if (ok) accepted += 1; });
              });
            });
            return sends;
          });
        });
      });
      chain.then(function () {
        const heldText = held ? " " + held + (held === 1 ? " file was" : " files were") + " uploaded before in that mode: " +
          "view " + (held === 1 ? "it" : "them") + " or upload again." : "";
        if (!accepted) {
          status.textContent = held === total ? heldText.trim()
            : (total === 1 ? "The file was refused; nothing was charged." : "Every file was refused; nothing was charged.") + heldText;
          return;
        }
        after.classList.remove("hidden");
        status.textContent = (accepted === total - held ? "All uploads finished."
          : accepted + " of " + (total - held) + " uploads finished; the refused ones were not charged.") + heldText;
      });
    }

    input.addEventListener("change", function () { start(input.files); input.value = ""; });
    drop.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
    drop.addEventListener("click", function (e) { if (e.target === drop) input.click(); });
    ["dragenter", "dragover"].forEach(function (type) {
      drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) { start(e.dataTransfer.files); });
  }

  // --- the prompt editor --------------------------------------------------------------------------------------------
  function initEditor(form) {
    const prompt = form.querySelector("#id_prompt");
    const kind = form.querySelector("#id_output_kind");
    form.querySelectorAll("[data-template]").forEach(function (button) {
      button.addEventListener("click", function () {
        prompt.value = button.dataset.template;
        kind.value = button.dataset.kind;
        prompt.focus();
      });
    });
    const preview = document.getElementById("preview-form");
    if (!preview) return;
    function copy() {
      preview.querySelector("#preview-prompt").value = prompt.value;
      preview.querySelector("#preview-kind").value = kind.value;
    }
    preview.addEventListener("submit", copy);
    preview.addEventListener("htmx:configRequest", function (e) {
      copy();
      e.detail.parameters.set ? e.detail.parameters.set("prompt", prompt.value) : (e.detail.parameters.prompt = prompt.value);
      e.detail.parameters.set ? e.detail.parameters.set("output_kind", kind.value) : (e.detail.parameters.output_kind = kind.value);
    });
  }

  // --- live progress: the job's Server-Sent Events (GET /api/v1/jobs/<id>/events) -----------------------------
  function initLive(progress) {
    if (!window.EventSource) return;
    const status = progress.querySelector("#live-status");
    const bar = progress.querySelector("#live-progress");
    const count = progress.querySelector("#live-count");
    const list = progress.querySelector("#live-pages");
    const source = new EventSource(progress.dataset.events);
    function show(done, total) {
      if (!total) return;
      bar.max = total;
      bar.value = done;
      count.textContent = done + " of " + total + " pages";
    }
    source.addEventListener("page_completed", function (event) {
      const data = JSON.parse(event.data);
      show(data.pages_done, data.pages);
      const item = document.createElement("li");
      item.dataset.page = data.page;
      const title = document.createElement("h3");
      title.textContent = "Page " + data.page;
      const text = document.createElement("pre");
      text.className = "plain";
      text.textContent = data.text;  // text, never HTML: the page's words are the user's data
      item.appendChild(title);
      item.appendChild(text);
      list.appendChild(item);
    });
    source.addEventListener("status", function (event) {
      const data = JSON.parse(event.data);
      status.textContent = data.status;
      status.className = "badge badge-" + data.status;
      show(data.pages_done, data.pages);
      if (["completed", "failed", "cancelled"].indexOf(data.status) >= 0) {
        source.close();
        window.location.reload();
      }
    });
  }

  // --- confirmations ------------------------------------------------------------------------------------------
  document.addEventListener("submit", function (event) {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  function init(root) {
    typeset(root);
    initViewer(root);
    const progress = root.querySelector("#progress[data-events]");
    if (progress) initLive(progress);
    const upload = root.querySelector("#upload-form");
    if (upload) initUpload(upload);
    const editor = root.querySelector("#mode-form");
    if (editor) initEditor(editor);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (e) { typeset(e.target); });
})();
