"use strict";
// Shared by both pages: the API key (this tab's sessionStorage, sent as a Bearer token) and error text.
const Quanta = (() => {
  const storageKey = "quanta.apiKey";
  const $ = id => document.getElementById(id);

  const key = () => sessionStorage.getItem(storageKey) || "";

  // fetch with the key; a 401 opens the key dialog.
  async function api(path, init = {}) {
    const headers = Object.assign({}, init.headers);
    if (key()) headers.Authorization = "Bearer " + key();
    const res = await fetch(path, Object.assign({}, init, { headers }));
    if (res.status === 401) askKey("The server needs an API key (it answered 401).");
    return res;
  }

  function askKey(reason) {
    const d = $("key-dialog");
    $("key-reason").textContent = reason || "";
    $("key-input").value = key();
    if (!d.open) d.showModal();
    $("key-input").focus();
  }

  // The message of a TGI ({"error": "..."}) or OpenAI ({"error": {"message": "..."}}) error body.
  async function errorText(res) {
    const text = await res.text();
    try {
      const e = JSON.parse(text).error;
      if (typeof e === "string") return e;
      if (e && e.message) return e.message;
    } catch { /* not JSON: show the text */ }
    return `${res.status} ${res.statusText} ${text}`.trim();
  }

  // The key dialog, the same on every page.
  function buildDialog() {
    const d = document.createElement("dialog");
    d.id = "key-dialog";
    d.setAttribute("aria-labelledby", "key-title");
    d.innerHTML = `<form id="key-form"><h2 id="key-title">API key</h2><p id="key-reason"></p>
      <label for="key-input">Key (kept in this browser tab only)</label><input id="key-input" type="password" autocomplete="off">
      <div class="actions"><button type="submit">Save</button><button id="key-cancel" type="button" class="ghost">Cancel</button></div></form>`;
    document.body.append(d);
    return d;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const d = buildDialog();
    $("key-button").addEventListener("click", () => askKey(""));
    $("key-cancel").addEventListener("click", () => d.close());
    $("key-form").addEventListener("submit", e => {
      e.preventDefault();
      const v = $("key-input").value.trim();
      if (v) sessionStorage.setItem(storageKey, v); else sessionStorage.removeItem(storageKey);
      d.close();
      document.dispatchEvent(new Event("quanta:key"));
    });
    const model = $("model");
    const showModel = () => api("/v1/models").then(r => r.ok ? r.json() : null)
      .then(j => { if (j && j.data && j.data[0]) model.textContent = j.data[0].id; }).catch(() => {});
    document.addEventListener("quanta:key", showModel);
    showModel();
  });

  return { api, askKey, errorText };
})();
