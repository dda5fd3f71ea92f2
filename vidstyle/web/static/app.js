// The page: plain DOM, no build step. Every request carries the token the server printed in the URL.
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const withToken = (url) => url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
let runJob = null;   // the job the Run panel shows
let runStream = null;

async function api(method, url, body) {
  const options = { method, headers: { "X-Vidstyle-Token": token } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || data.detail || response.statusText);
  return data;
}

function say(text, isError) {
  $("message").textContent = text || "";
  $("message").className = isError ? "error" : "";
}

// ---- styles: chosen paths with their blend weights
const chosen = [];
function renderStyles() {
  const list = $("styles-chosen");
  list.textContent = "";
  chosen.forEach((style, i) => {
    const item = document.createElement("li");
    const weight = document.createElement("input");
    weight.type = "number"; weight.min = "0"; weight.step = "0.1"; weight.value = style.weight;
    weight.title = "blend weight";
    weight.onchange = () => { style.weight = parseFloat(weight.value); };
    const remove = document.createElement("button");
    remove.type = "button"; remove.textContent = "×";
    remove.onclick = () => { chosen.splice(i, 1); renderStyles(); };
    item.append(style.path + " ", weight, " ", remove);
    list.append(item);
  });
  document.querySelectorAll("#style-list img").forEach((img) =>
    img.classList.toggle("chosen", chosen.some((s) => s.path === img.dataset.path)));
}
function addStyle(path) {
  if (path && !chosen.some((s) => s.path === path)) chosen.push({ path, weight: 1 });
  renderStyles();
}
$("add-style").onclick = () => { addStyle($("style-path").value.trim()); $("style-path").value = ""; };
$("load-styles").onclick = async () => {
  try {
    const data = await api("GET", "/api/images?folder=" + encodeURIComponent($("style-folder").value));
    const box = $("style-list");
    box.textContent = "";
    for (const path of data.images) {
      const img = document.createElement("img");
      img.src = withToken("/api/image?path=" + encodeURIComponent(path));
      img.dataset.path = path; img.title = path;
      img.onclick = () => {
        const at = chosen.findIndex((s) => s.path === path);
        if (at >= 0) chosen.splice(at, 1); else chosen.push({ path, weight: 1 });
        renderStyles();
      };
      box.append(img);
    }
    renderStyles();
  } catch (error) { say(error.message, true); }
};

// ---- drag and drop: the file is copied to the server's scratch folder, and its path used
function dropZone(zone, use) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault(); zone.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (!file) return;
    try {
      const response = await fetch(withToken("/api/upload?name=" + encodeURIComponent(file.name)),
        { method: "POST", body: file, headers: { "X-Vidstyle-Token": token } });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || response.statusText);
      use(data.path);
    } catch (error) { say(error.message, true); }
  });
}
dropZone($("drop"), (path) => { $("input").value = path; });
dropZone($("drop-style"), addStyle);

// ---- the settings the controls stand for
document.querySelectorAll("input[type=range]").forEach((range) => {
  const out = document.querySelector(`output[for="${range.id}"]`);
  const show = () => { out.textContent = range.value; };
  range.addEventListener("input", show); show();
});
function form() {
  const weights = chosen.map((s) => s.weight);
  return {
    styles: chosen.map((s) => s.path),
    blend: weights.every((w) => w === weights[0]) ? null : weights,
    strength: $("strength").value,
    style_scale: $("style-scale").value,
    preserve_colors: $("preserve-colors").checked,
    network: $("network").value,
    max_size: $("max-size").value,
    iterations: $("iterations").value,
    iterations_next: $("iterations-next").value,
    weights: $("weights").value.trim() || null,
    frames: $("frames").value,
  };
}

// ---- preview: frames spread over the clip, beside their inputs
function follow(job, onState) {
  const stream = new EventSource(withToken(`/api/jobs/${job.id}/events`));
  stream.onmessage = (e) => {
    const state = JSON.parse(e.data);
    onState(state);
    if (["done", "interrupted", "failed", "damaged"].includes(state.state)) stream.close();
  };
  return stream;
}
$("preview-btn").onclick = async () => {
  $("preview-status").textContent = "starting…";
  $("preview-grid").textContent = "";
  $("preview-shots").textContent = "";
  try {
    const job = await api("POST", "/api/preview", { input: $("input").value, form: form() });
    follow(job, (state) => {
      if (state.state === "failed") { $("preview-status").textContent = ""; say(state.message, true); return; }
      $("preview-shots").textContent = state.shots || "";
      if (state.state !== "done") {
        $("preview-status").textContent = !state.total && state.cuts
          ? `looking for cuts, frame ${state.cuts[0]} of ${state.cuts[1]}`
          : `frame ${state.done} of ${state.total || "?"}` + (state.loss != null ? `, loss ${state.loss.toPrecision(4)}` : "");
        return;
      }
      $("preview-status").textContent = "done";
      const grid = $("preview-grid");
      grid.textContent = "";
      for (const frame of state.preview) {
        const pair = document.createElement("div");
        pair.className = "pair";
        const time = frame.time != null ? `${frame.time.toFixed(2)} s` : "image";
        const input = document.createElement("img");
        input.className = "preview-in"; input.src = withToken(`/api/jobs/${state.id}/preview/${frame.input}`);
        const output = document.createElement("img");
        output.className = "preview-out"; output.src = withToken(`/api/jobs/${state.id}/preview/${frame.output}`);
        const shot = state.shots && state.shots !== "1 shot" ? `shot ${frame.shot + 1}, ` : "";
        pair.append(`${shot}frame ${frame.source_index} (${time})`, input, output, `${frame.steps} steps, ${frame.seconds.toFixed(1)} s`);
        grid.append(pair);
      }
    });
  } catch (error) { $("preview-status").textContent = ""; say(error.message, true); }
};

// ---- run: start, live progress, stop, resume, the finished video
function duration(seconds) {
  if (seconds == null) return "–";
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}
function showRun(state) {
  runJob = state;
  $("state").textContent = state.state === "interrupted" ? `interrupted at frame ${state.done}` : state.state;
  $("frames-count").textContent = `${state.done} / ${state.total}`;
  $("bar").max = state.total || 1; $("bar").value = state.done;
  $("fps").textContent = state.fps != null ? state.fps.toFixed(2) : "–";
  $("eta").textContent = duration(state.eta);
  $("loss").textContent = state.loss != null ? state.loss.toPrecision(4) : "–";
  $("shots").textContent = state.shots || "";
  $("size").textContent = state.size || "";
  if (state.thumb > 0) {
    $("thumb").hidden = false;
    $("thumb").src = withToken(`/api/jobs/${state.id}/thumb?v=${state.thumb}`);
  }
  const running = ["running", "starting", "stopping"].includes(state.state);
  $("stop-btn").disabled = !running || state.state === "stopping";
  $("resume-btn").disabled = state.state !== "interrupted";
  $("start-btn").disabled = running;
  if (state.state === "failed") say(state.message, true);
  else if (state.state === "interrupted") say(state.message || "Stopped; Resume goes on from the last finished frame.");
  else if (state.state === "done") say("Done: " + state.output);
  else say("");
  if (state.state === "done") {
    $("result").hidden = false;
    $("output-folder").textContent = state.output_folder;
    const src = withToken(`/api/jobs/${state.id}/video?v=${state.version}`);
    if (/\.(mp4|webm|mkv|mov)$/i.test(state.output) && $("video").dataset.job !== state.id) {
      $("video").dataset.job = state.id;
      $("video").src = src;
    }
  } else {
    $("result").hidden = true;
  }
  if (state.state !== lastState) { lastState = state.state; loadJobs(); }
}
let lastState = null;
function watch(job) {
  if (runStream) runStream.close();
  $("video").removeAttribute("src"); $("video").dataset.job = "";
  showRun(job);
  runStream = follow(job, showRun);
}
$("start-btn").onclick = async () => {
  say("");
  try {
    watch(await api("POST", "/api/run", { input: $("input").value, output: $("output").value, form: form() }));
  } catch (error) { say(error.message, true); }
};
$("stop-btn").onclick = async () => { if (runJob) await api("POST", `/api/jobs/${runJob.id}/stop`).catch((e) => say(e.message, true)); };
$("resume-btn").onclick = () => runJob && resume(runJob.id);
async function resume(id) {
  try { watch(await api("POST", `/api/jobs/${id}/resume`)); } catch (error) { say(error.message, true); }
}

// ---- jobs: the runs this server started and the work dirs found in a folder
let loading = false;
async function loadJobs() {
  if (loading) return;
  loading = true;
  try {
    const folder = $("jobs-folder").value.trim();
    const data = await api("GET", "/api/jobs" + (folder ? "?folder=" + encodeURIComponent(folder) : ""));
    const table = $("jobs-table");
    table.textContent = "";
    for (const job of data.jobs) {
      const row = table.insertRow();
      row.dataset.job = job.id;
      row.insertCell().textContent = job.output;
      row.insertCell().textContent = job.state === "interrupted" ? `interrupted at frame ${job.done} of ${job.total}`
        : job.state === "running" ? `running, frame ${job.done} of ${job.total}` : job.state;
      const cell = row.insertCell();
      if (job.state === "interrupted") {
        const button = document.createElement("button");
        button.type = "button"; button.textContent = "Resume"; button.className = "job-resume";
        button.onclick = () => resume(job.id);
        cell.append(button);
      } else if (job.state === "running" || job.state === "done") {
        const button = document.createElement("button");
        button.type = "button"; button.textContent = "Show";
        button.onclick = () => api("GET", `/api/jobs/${job.id}`).then(watch);
        cell.append(button);
      }
    }
  } catch (error) { say(error.message, true); } finally { loading = false; }
}
$("jobs-refresh").onclick = loadJobs;
$("style-folder").value = $("jobs-folder").value = document.body.dataset.folder || "";
loadJobs();
