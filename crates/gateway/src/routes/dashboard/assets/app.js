// Tollgate dashboard: copy buttons and the playground's streaming chat.
// Plain JavaScript, no dependencies; the pages work without it except
// for the playground.
"use strict";

(function () {
  const base = document.body.dataset.base || "";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Copy buttons: data-copy names the element whose text is copied.
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const text = source.textContent;
      let copied = false;
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try { copied = document.execCommand("copy"); } catch (_) { copied = false; }
      }
      button.textContent = copied ? "Copied" : "Select and copy";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }

  const form = document.getElementById("chat");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const transcript = $("transcript");
  const send = $("send");
  const stop = $("stop");
  const errorBox = $("chat-error");
  let history = [];
  let controller = null;

  function bubble(role, text) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : "Assistant";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    div.append(who, body);
    transcript.append(div);
    return body;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function stats(fields) {
    $("reply-stats").hidden = false;
    for (const [id, value] of Object.entries(fields)) {
      if (value !== undefined) $(id).textContent = value;
    }
  }

  $("clear").addEventListener("click", () => {
    history = [];
    transcript.replaceChildren();
    errorBox.hidden = true;
  });

  stop.addEventListener("click", () => { if (controller) controller.abort(); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const prompt = $("prompt").value.trim();
    if (!prompt || controller) return;
    errorBox.hidden = true;
    bubble("user", prompt);
    history.push({ role: "user", content: prompt });
    $("prompt").value = "";
    const system = $("system").value.trim();
    const messages = system ? [{ role: "system", content: system }, ...history] : history.slice();
    const out = bubble("assistant", "");
    out.parentElement.setAttribute("aria-busy", "true");
    controller = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    let reply = "";
    try {
      const res = await fetch(base + "/playground/chat", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ model: $("model").value, fallbacks: $("fallbacks").value, messages }),
        signal: controller.signal,
        credentials: "same-origin",
      });
      const id = res.headers.get("x-generation-id");
      stats({
        "stat-provider": res.headers.get("x-tollgate-provider") || "—",
        "stat-attempts": res.headers.get("x-tollgate-attempts") || "—",
      });
      if (!res.ok) {
        let message = res.status + " " + res.statusText;
        try { message = (await res.json()).error.message || message; } catch (_) { /* not JSON */ }
        throw new Error(message);
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, end).trim();
          buffer = buffer.slice(end + 1);
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") continue;
          let chunk;
          try { chunk = JSON.parse(data); } catch (_) { continue; }
          if (chunk.error) showError(chunk.error.message || "The provider failed.");
          const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && delta.content) {
            reply += delta.content;
            out.textContent = reply;
          }
          if (chunk.usage) {
            const u = chunk.usage;
            stats({
              "stat-tokens": (u.prompt_tokens ?? "—") + " / " + (u.completion_tokens ?? "—"),
              "stat-cost": u.cost !== undefined ? "$" + u.cost : "—",
            });
          }
          if (chunk.id) id_link(chunk.id);
        }
      }
      if (id) id_link(id);
    } catch (e) {
      if (e.name === "AbortError") {
        out.textContent = reply + (reply ? " " : "") + "[stopped]";
      } else {
        showError(e.message || String(e));
      }
    } finally {
      out.parentElement.removeAttribute("aria-busy");
      if (reply) history.push({ role: "assistant", content: reply });
      controller = null;
      send.disabled = false;
      stop.disabled = true;
    }
  });

  function id_link(id) {
    const a = $("stat-generation");
    a.textContent = id;
    a.href = base + "/generations/" + encodeURIComponent(id);
  }
})();
