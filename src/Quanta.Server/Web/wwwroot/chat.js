"use strict";
// The playground: a conversation kept in this page, streamed from /v1/chat/completions.
(() => {
  const $ = id => document.getElementById(id);
  const log = $("log"), prompt = $("prompt"), send = $("send"), stop = $("stop"), errorBox = $("error"), status = $("status");
  const history = [];          // [{role, content}] without the system prompt
  let controller = null;       // AbortController of the running request
  let count = 0;

  const num = id => { const v = $(id).value.trim(); return v === "" ? undefined : Number(v); };

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  // Builds the request body from the settings; throws on a schema that is not JSON.
  function body() {
    const messages = [];
    const system = $("system").value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...history);
    const b = { model: $("model").textContent || "quanta", messages, stream: true };
    const set = (name, v) => { if (v !== undefined && !Number.isNaN(v)) b[name] = v; };
    set("temperature", num("temperature"));
    set("top_p", num("top-p"));
    set("top_k", num("top-k"));
    set("max_tokens", num("max-tokens"));
    set("seed", num("seed"));
    const stops = $("stop-seqs").value.split("\n").filter(s => s.length > 0);
    if (stops.length) b.stop = stops;
    const schemaText = $("schema").value.trim();
    if (schemaText) {
      let schema;
      try { schema = JSON.parse(schemaText); } catch (e) { throw new Error("The JSON schema is not valid JSON: " + e.message); }
      // Either a bare schema or OpenAI's whole json_schema object ({name, schema, strict}).
      const jsonSchema = schema && typeof schema.name === "string" && schema.schema ? schema : { name: "response", schema, strict: true };
      b.response_format = { type: "json_schema", json_schema: jsonSchema };
    }
    return b;
  }

  function addMessage(role, text) {
    $("empty").hidden = true;
    const n = ++count;
    const who = role === "user" ? "You" : "Assistant";
    const el = document.createElement("article");
    el.className = "msg " + role;
    el.setAttribute("aria-label", `${who}, message ${n}`);
    const head = document.createElement("div");
    head.className = "who";
    head.textContent = who;
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    const meta = document.createElement("div");
    meta.className = "meta";
    const stats = document.createElement("span");
    stats.className = "stats";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy ghost";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", `Copy message ${n}`);
    copy.addEventListener("click", () => copyText(body.textContent, copy));
    meta.append(stats, copy);
    el.append(head, body, meta);
    log.append(el);
    log.scrollTop = log.scrollHeight;
    return { el, body, stats };
  }

  async function copyText(text, button) {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      // Clipboard needs a secure context (https or localhost): select the text for a manual copy instead.
      const range = document.createRange();
      range.selectNodeContents(button.closest(".msg").querySelector(".text"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }

  function busy(on) {
    send.disabled = on;
    stop.disabled = !on;
    $("clear").disabled = on;
  }

  // Reads "data: ..." lines of the SSE body and calls onEvent with each JSON payload; stops at [DONE].
  async function readSse(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") { reader.cancel().catch(() => {}); return; }
        onEvent(JSON.parse(data));
      }
    }
  }

  function describe(m) {
    const parts = [];
    if (m.ttft !== undefined) parts.push(`TTFT ${m.ttft.toFixed(0)} ms`);
    if (m.tokens > 1 && m.last > m.first) parts.push(`${((m.tokens - 1) * 1000 / (m.last - m.first)).toFixed(1)} tok/s`);
    parts.push(`${m.tokens} token${m.tokens === 1 ? "" : "s"}`);
    if (m.finish) parts.push(m.finish);
    return parts.join(" · ");
  }

  async function submit() {
    const text = prompt.value;
    if (!text.trim() || controller) return;
    let request;
    history.push({ role: "user", content: text });
    try { request = body(); } catch (e) { history.pop(); showError(e.message); return; }
    showError("");
    prompt.value = "";
    addMessage("user", text);
    const out = addMessage("assistant", "");
    out.el.dataset.state = "streaming";
    out.body.setAttribute("aria-busy", "true");
    const m = { start: performance.now(), tokens: 0 };
    controller = new AbortController();
    busy(true);
    status.textContent = "Generating…";
    let answer = "";
    try {
      const res = await Quanta.api("/v1/chat/completions", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request), signal: controller.signal,
      });
      if (!res.ok) throw new Error(await Quanta.errorText(res));
      await readSse(res, ev => {
        if (ev.error) throw new Error(typeof ev.error === "string" ? ev.error : ev.error.message);
        const choice = ev.choices && ev.choices[0];
        const delta = choice && choice.delta && choice.delta.content;
        if (delta) {
          const now = performance.now();
          if (m.first === undefined) { m.first = now; m.ttft = now - m.start; }
          m.last = now;
          m.tokens++;
          answer += delta;
          const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
          out.body.textContent = answer;
          if (stick) log.scrollTop = log.scrollHeight;
        }
        if (choice && choice.finish_reason) m.finish = choice.finish_reason;
        if (ev.usage) m.tokens = ev.usage.completion_tokens;
        out.stats.textContent = describe(m);
      });
      out.el.dataset.state = "done";
      status.textContent = "Answer complete: " + describe(m);
    } catch (e) {
      if (e.name === "AbortError") {
        m.finish = "stopped";
        out.el.dataset.state = "stopped";
        status.textContent = "Stopped.";
      } else {
        out.el.dataset.state = "error";
        showError(e.message);
        status.textContent = "Error: " + e.message;
      }
    } finally {
      out.stats.textContent = describe(m);
      out.el.dataset.tokens = String(m.tokens);
      if (m.ttft !== undefined) out.el.dataset.ttftMs = m.ttft.toFixed(1);
      out.body.setAttribute("aria-busy", "false");
      if (answer) history.push({ role: "assistant", content: answer });
      else history.pop();     // nothing came back: the next message does not follow an unanswered one
      controller = null;
      busy(false);
      prompt.focus();
    }
  }

  $("composer").addEventListener("submit", e => { e.preventDefault(); submit(); });
  prompt.addEventListener("keydown", e => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  stop.addEventListener("click", () => { if (controller) controller.abort(); });
  document.addEventListener("keydown", e => { if (e.key === "Escape" && controller) controller.abort(); });
  $("clear").addEventListener("click", () => {
    history.length = 0;
    log.querySelectorAll(".msg").forEach(el => el.remove());
    $("empty").hidden = false;
    showError("");
    status.textContent = "Conversation cleared.";
    prompt.focus();
  });
  if (matchMedia("(max-width: 760px)").matches) $("settings").open = false;
  prompt.focus();
})();
