// "/submit": a form that builds the same job spec as POST /v1/jobs — a model JSON (pasted or from a file),
// dataset arrays for each input and output, compile and fit options — shows it, and submits it.
import { api } from "./api.js";
import { navigate } from "./app.js";
import { esc } from "./util.js";

const OPTIMIZERS = ["Adam", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "AdamW"];
const LOSSES = ["mse", "mae", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
  "huber", "hinge", "kl_divergence", "poisson", "cosine_similarity"];

/** A Functional model's input or output names (``input_layers`` / ``output_layers``); [null] for one of them. */
export function ioNames(model, which) {
  let entries = model?.config?.[which];
  if (!Array.isArray(entries) || !entries.length) return [null];
  if (typeof entries[0] === "string") entries = [entries];
  return entries.length === 1 ? [null] : entries.map(e => e[0]);
}

const GUESS = { x: /^(x|inputs?|features?|data)([_-].*)?$/i, y: /^(y|labels?|targets?)([_-].*)?$/i };

function arrayOptions(datasets, selected, kind, ioName) {
  const refs = datasets.flatMap(ds => Object.keys(ds.arrays || {}).map(name => `${ds.id}/${name}`));
  const guess = selected || refs.find(r => ioName && r.split("/")[1] === ioName)
    || refs.find(r => GUESS[kind].test(r.split("/")[1])) || refs[0];
  return datasets.flatMap(ds => Object.entries(ds.arrays || {}).map(([name, a]) => {
    const ref = `${ds.id}/${name}`;
    return `<option value="${esc(ref)}" ${ref === guess ? "selected" : ""}>${esc(ds.name)} · ${esc(name)} (${a.shape.join(", ")}) ${esc(a.dtype)}</option>`;
  })).join("");
}

export async function render(view) {
  const { datasets } = await api("/v1/datasets");
  view.innerHTML = `
    <div class="toolbar"><h1>New job</h1></div>
    <form id="submit-form" class="submit-form">
      <section class="card">
        <h2>Model</h2>
        <label>name <input name="name" placeholder="optional" maxlength="200"></label>
        <label><span>Keras model JSON (<code>model.to_json()</code>)</span>
          <textarea name="model" rows="8" spellcheck="false" placeholder='{"class_name": "Sequential", ...}' required></textarea></label>
        <label><span>or load it from a file</span> <input type="file" id="model-file" accept=".json,application/json"></label>
        <p class="muted" id="model-note"></p>
      </section>
      <section class="card">
        <h2>Data</h2>
        ${datasets.length ? "" : `<p class="error">No datasets yet: <a href="/datasets" data-link>upload one</a> first.</p>`}
        <div id="data-fields" class="grid-fields"></div>
        <label>validation_split <input name="validation_split" type="number" min="0" max="0.99" step="0.05" value="0"></label>
      </section>
      <section class="card grid-fields">
        <h2 class="full">Compile</h2>
        <label>optimizer <select name="optimizer">${OPTIMIZERS.map(o => `<option>${o}</option>`).join("")}</select></label>
        <label>learning_rate <input name="learning_rate" type="number" step="any" min="0" value="0.001"></label>
        <label>loss <input name="loss" list="losses" value="mse" required><datalist id="losses">${LOSSES.map(l => `<option value="${l}">`).join("")}</datalist></label>
        <label>metrics <input name="metrics" placeholder="comma-separated, e.g. accuracy, mae"></label>
        <h2 class="full">Fit</h2>
        <label>epochs <input name="epochs" type="number" min="1" value="10" required></label>
        <label>batch_size <input name="batch_size" type="number" min="1" value="32"></label>
        <label class="check"><input name="shuffle" type="checkbox" checked> shuffle</label>
      </section>
      <section class="card">
        <div class="section-head"><h2>Spec</h2><button type="submit" id="submit-button">Submit job</button></div>
        <p class="error" id="submit-error" hidden></p>
        <pre id="spec-preview" class="summary"></pre>
      </section>
    </form>`;
  const form = view.querySelector("#submit-form");
  let model = null;

  function drawDataFields() {
    const inputs = ioNames(model, "input_layers"), outputs = ioNames(model, "output_layers");
    const keep = Object.fromEntries([...form.querySelectorAll("[data-ref]")].map(s => [s.name, s.value]));
    const field = (kind, name) => {
      const key = `${kind}:${name ?? ""}`;
      return `<label>${kind}${name ? ` <code>${esc(name)}</code>` : ""}
        <select name="${esc(key)}" data-ref="${kind}" data-io="${esc(name ?? "")}" required>${arrayOptions(datasets, keep[key], kind, name)}</select></label>`;
    };
    view.querySelector("#data-fields").innerHTML = inputs.map(n => field("x", n)).join("") + outputs.map(n => field("y", n)).join("");
  }

  function refs(kind) {
    const selects = [...form.querySelectorAll(`[data-ref="${kind}"]`)];
    if (selects.length === 1 && !selects[0].dataset.io) return selects[0].value;
    return Object.fromEntries(selects.map(s => [s.dataset.io, s.value]));
  }

  /** The job spec the form describes, exactly what POST /v1/jobs takes. */
  function spec() {
    const f = new FormData(form);
    const metrics = String(f.get("metrics") || "").split(",").map(s => s.trim()).filter(Boolean);
    const out = {
      model,
      compile: { optimizer: { class_name: f.get("optimizer"), config: { learning_rate: Number(f.get("learning_rate")) } },
        loss: f.get("loss"), ...(metrics.length ? { metrics } : {}) },
      data: { x: refs("x"), y: refs("y") },
      fit: { epochs: Number(f.get("epochs")), shuffle: f.get("shuffle") === "on",
        validation_split: Number(f.get("validation_split") || 0),
        ...(f.get("batch_size") ? { batch_size: Number(f.get("batch_size")) } : {}) },
    };
    if (f.get("name")) out.name = f.get("name");
    return out;
  }

  function update() {
    const text = form.elements.model.value.trim();
    const note = view.querySelector("#model-note");
    model = null;
    if (text) {
      try {
        model = JSON.parse(text);
        const ins = ioNames(model, "input_layers"), outs = ioNames(model, "output_layers");
        note.textContent = `${model.class_name}: ${ins[0] ? ins.join(", ") : "one input"} → ${outs[0] ? outs.join(", ") : "one output"}`;
        note.className = "muted";
      } catch (err) {
        note.textContent = `not JSON: ${err.message}`;
        note.className = "error";
      }
    }
    if (!form.querySelector("[data-ref]") || form.dataset.io !== JSON.stringify([ioNames(model, "input_layers"), ioNames(model, "output_layers")])) {
      form.dataset.io = JSON.stringify([ioNames(model, "input_layers"), ioNames(model, "output_layers")]);
      drawDataFields();
    }
    const shown = { ...spec(), model: model ? `<${model.class_name} model JSON>` : null };
    view.querySelector("#spec-preview").textContent = JSON.stringify(shown, null, 2);
  }

  view.querySelector("#model-file").onchange = async event => {
    const file = event.target.files[0];
    if (file) { form.elements.model.value = await file.text(); update(); }
  };
  form.oninput = update;
  form.onchange = update;
  form.onsubmit = async event => {
    event.preventDefault();
    const error = view.querySelector("#submit-error");
    error.hidden = true;
    if (!model) { error.textContent = "model: paste a Keras model JSON or load its file"; error.hidden = false; return; }
    try {
      const job = await api("/v1/jobs", { method: "POST", json: spec() });
      navigate(`/jobs/${job.id}`);
    } catch (err) {
      error.textContent = (err.field ? `${err.field}: ` : "") + err.message;
      error.hidden = false;
    }
  };
  update();
}
