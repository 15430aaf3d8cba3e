// The playground: one page over the server's own JSON API (nothing else is fetched; the key stays in memory).
"use strict";

// The API lives beside the page: at / for nuansa serve, under the prefix an app gave MapNuansa.
const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";

const page = {
  key: null,
  info: new Map(),
  $: id => document.getElementById(id),
};

// A request to this server, with the key when one was given; the answer's JSON (or null) and status.
async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (page.key !== null) headers["Authorization"] = "Bearer " + page.key;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON: the text says what went wrong */ }
  return { status: response.status, json, text };
}

function element(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

function fmt(score) { return Number(score).toFixed(4); }

function pathOf(target) {
  const [kind, name] = [target.slice(0, target.indexOf(":")), target.slice(target.indexOf(":") + 1)];
  const n = encodeURIComponent(name);
  return kind === "model"
    ? { kind, name, run: `${base}models/${n}/predict`, info: `${base}models/${n}/info` }
    : { kind, name, run: `${base}pipelines/${n}`, info: `${base}pipelines/${n}/info` };
}

function askForKey(reason) {
  page.$("key-form").hidden = false;
  if (reason) page.$("key-reason").textContent = reason;
  page.$("api-key").focus();
}

async function start() {
  const health = await api("GET", `${base}health`);
  const models = health.json?.models || [];
  const pipelines = health.json?.pipelines || [];
  const select = page.$("target");
  const group = (label, kind, names) => {
    if (names.length === 0) return;
    const g = element("optgroup", { label });
    for (const n of names) g.append(element("option", { value: `${kind}:${n}`, textContent: n }));
    select.append(g);
  };
  group("Models", "model", models);
  group("Pipelines", "pipeline", pipelines);
  page.$("server-line").textContent = health.status === 200
    ? `${models.length} model${models.length === 1 ? "" : "s"} and ${pipelines.length} pipeline${pipelines.length === 1 ? "" : "s"} on ${location.host}.`
    : `The server answered ${health.status}: ${health.json?.error || health.text}`;
  if (select.options.length > 0) await describe();
}

// What the chosen model or pipeline is (its labels, its steps); the first call tells whether a key is needed.
async function describe() {
  const target = pathOf(page.$("target").value);
  // Results, timing and curl line belong to the previous choice: a new model or pipeline starts clean.
  page.$("results").replaceChildren();
  page.$("latency").textContent = "";
  page.$("request").hidden = true;
  page.$("run").textContent = target.kind === "pipeline" ? "Run pipeline" : "Classify";
  const answer = await api("GET", target.info);
  if (answer.status === 401) {
    page.$("target-info").textContent = "";
    askForKey(page.key === null ? null : "The server did not accept this key. Enter it again.");
    return;
  }
  if (answer.status !== 200) {
    page.$("target-info").textContent = answer.json?.error || answer.text;
    return;
  }
  page.$("key-form").hidden = true;
  page.info.set(page.$("target").value, answer.json);
  const i = answer.json;
  page.$("target-info").textContent = target.kind === "model"
    ? `${i.model_type}, ${i.tasks ? Object.keys(i.tasks).length + " tasks" : i.labels.length + " labels"}, up to ${i.max_input_length} tokens.`
    : `${i.steps.length} steps: ${i.steps.map(s => s.name + (s.keep ? " (gate)" : "")).join(" → ")}${i.alerts.length ? `; alerts: ${i.alerts.map(a => a.name).join(", ")}` : ""}.`;
}

function scoreList(labels, caption) {
  const list = element("ul", { className: "scores" });
  if (caption) list.setAttribute("aria-label", caption);
  labels.forEach((l, index) => {
    const fill = element("span", { className: "fill" });
    fill.style.width = `${Math.max(0, Math.min(1, l.score)) * 100}%`;
    const track = element("span", { className: "track" }, fill);
    track.setAttribute("aria-hidden", "true");
    list.append(element("li", { className: index === 0 ? "top" : "" },
      element("span", { className: "name", textContent: l.label }), track, element("span", { className: "value", textContent: fmt(l.score) })));
  });
  return list;
}

// One model's answer: a list of labels, or per task a list.
function prediction(answer, into, heading) {
  if (Array.isArray(answer)) {
    into.append(scoreList(answer, heading));
    return;
  }
  for (const [task, labels] of Object.entries(answer)) {
    into.append(element("h3", { textContent: task }));
    into.append(scoreList(labels, `${heading}: ${task}`));
  }
}

function showPipeline(info, answer, into) {
  const ran = answer.steps;
  for (const step of info.steps) {
    const box = element("div", { className: "step" });
    const title = element("h2", { textContent: step.name });
    box.append(title);
    if (!(step.name in ran)) {
      box.classList.add("skipped");
      title.append(element("span", { className: "badge", textContent: "not run" }));
      box.append(element("p", { textContent: `Not run: the input stopped at ${answer.stopped_at}.` }));
    } else {
      if (step.keep) {
        const passed = answer.stopped_at !== step.name;
        title.append(element("span", { className: `badge ${passed ? "pass" : "stop"}`, textContent: passed ? "gate passed" : "stopped here" }));
        box.append(element("p", { className: "muted", textContent: `Gate: the best label must be ${step.keep.join(" or ")} with a score of at least ${step.min_score}.` }));
      }
      prediction(ran[step.name], box, step.name);
    }
    into.append(box);
  }
  const raised = new Set(answer.alerts);
  const alerts = element("div", { className: `alerts${raised.size ? " raised" : ""}` });
  alerts.append(element("h2", { textContent: raised.size ? `Alerts raised: ${[...raised].join(", ")}` : "No alert raised" }));
  if (info.alerts.length) {
    const list = element("ul");
    for (const a of info.alerts) {
      const rule = Object.entries(a.labels).map(([label, t]) => `${label} ≥ ${t}`).join(" or ");
      list.append(element("li", { className: raised.has(a.name) ? "alert" : "", textContent: `${a.name} (step ${a.step}: ${rule}): ${raised.has(a.name) ? "raised" : "not raised"}` }));
    }
    alerts.append(list);
  }
  into.append(alerts);
}

// The curl command for the request just sent; the key is left as a variable, never printed.
function curl(path, body) {
  const quote = s => "'" + s.replaceAll("'", "'\\''") + "'";
  const lines = [`curl -s ${quote(location.origin + path)}`, "  -H 'Content-Type: application/json'"];
  if (page.key !== null) lines.push("  -H \"Authorization: Bearer $NUANSA_API_KEY\"");
  lines.push(`  -d ${quote(JSON.stringify(body))}`);
  return lines.join(" \\\n");
}

async function run(event) {
  event.preventDefault();
  const value = page.$("target").value;
  const target = pathOf(value);
  if (!page.info.has(value)) {
    await describe();
    if (!page.info.has(value)) return;
  }
  const text = page.$("text").value;
  const context = page.$("context").value;
  const body = { inputs: context.trim() ? [context, text] : text, truncate: true };
  const results = page.$("results");
  const button = page.$("run");
  button.disabled = true;
  page.$("latency").textContent = "Working…";
  const started = performance.now();
  let answer;
  try {
    answer = await api("POST", target.run, body);
  } finally {
    button.disabled = false;
  }
  const took = performance.now() - started;
  results.replaceChildren();
  page.$("curl").textContent = curl(target.run, body);
  page.$("request").hidden = false;
  if (answer.status === 401) {
    page.$("latency").textContent = "";
    askForKey("The server did not accept this key. Enter it again.");
    return;
  }
  if (answer.status !== 200) {
    page.$("latency").textContent = "";
    results.append(element("p", { className: "error", textContent: `${answer.status}: ${answer.json?.error || answer.text}` }));
    return;
  }
  page.$("latency").textContent = `Answered in ${Math.round(took)} ms.`;
  if (target.kind === "model") {
    results.append(element("h2", { textContent: target.name }));
    prediction(answer.json, results, target.name);
  } else {
    showPipeline(page.info.get(value), answer.json, results);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  page.$("classify-form").addEventListener("submit", run);
  page.$("target").addEventListener("change", describe);
  page.$("key-form").addEventListener("submit", async event => {
    event.preventDefault();
    page.key = page.$("api-key").value;
    page.$("api-key").value = "";
    await describe();
    if (page.$("key-form").hidden) page.$("text").focus();
  });
  page.$("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(page.$("curl").textContent);
      page.$("copy").textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(page.$("curl"));
      page.$("copy").textContent = "Selected: copy with Ctrl+C";
    }
  });
  start().catch(e => { page.$("server-line").textContent = `Could not reach the server: ${e.message}`; });
});
