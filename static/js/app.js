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
    row.item.classList.add("failed");
    row.state.textContent = "✕ " + message;
    row.bar.remove();
  }

  function sendOne(form, file, mode, row) {
    const body = new FormData();
    body.append("filename", file.name);
    body.append("content_type", contentType(file));
    body.append("size", String(file.size));
    body.append("mode", mode);
    return fetch(form.dataset.ticketUrl, {
      method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
      if (!answer.ok) { fail(row, answer.data.error || "refused"); return; }
      row.state.textContent = "uploading";
      return new Promise(function (resolve) {
        const xhr = new XMLHttpRequest();
        xhr.open("PUT", answer.data.upload_url);
        xhr.setRequestHeader("Content-Type", contentType(file));
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) row.bar.value = Math.round((e.loaded / e.total) * 100);
        });
        xhr.addEventListener("load", function () {
          if (xhr.status >= 200 && xhr.status < 300) {
            row.bar.value = 100;
            row.item.classList.add("done");
            row.state.textContent = "";
            const link = document.createElement("a");
            link.href = answer.data.job_url;
            link.textContent = "✓ uploaded, processing: view";
            row.state.append(link);
          } else {
            let message = "upload refused";
            try { message = JSON.parse(xhr.responseText).detail || message; } catch (ignored) { /* not JSON */ }
            fail(row, message);
          }
          resolve();
        });
        xhr.addEventListener("error", function () { fail(row, "network error"); resolve(); });
        xhr.send(file);
      });
    }).catch(function () { fail(row, "network error"); });
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
      Array.from(files).forEach(function (file) {
        modes.forEach(function (mode) {
          const row = uploadRow(list, file, mode);
          if (ALLOWED.indexOf(contentType(file)) < 0) { fail(row, "not a PNG, JPEG, BMP, TIFF or PDF file"); return; }
          if (file.size > maxBytes) { fail(row, "larger than the upload limit"); return; }
          if (file.size === 0) { fail(row, "the file is empty"); return; }
          chain = chain.then(function () { return sendOne(form, file, mode, row); });
        });
      });
      chain.then(function () { after.classList.remove("hidden"); status.textContent = "All uploads finished."; });
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
