// The demo's preferences panel (DESIGN §13): one checkbox per known type mutes or unmutes its
// in-app delivery. A PUT replaces the whole preferences object, so every change starts from the
// API's latest answer and keeps `default`, the other types and any other field as they were;
// changes go one after the other so a quick second click cannot undo the first.
const $ = (id) => document.getElementById(id);

let inbox = null;
let prefs = null; // the API's last answer
let saving = Promise.resolve();
const known = new Set(); // types seen in the list or typed in
const rows = new Map(); // type -> <li>
const pending = new Map(); // type -> muted: clicked, not answered yet

function settings(type) {
  const own = prefs?.types?.[type];
  return own && typeof own === "object" ? own : null;
}
function muted(type) {
  if (pending.has(type)) return pending.get(type);
  return (settings(type) ?? prefs?.default)?.inApp === false;
}
function status(text) {
  $("prefs-status").textContent = text;
}

function row(type) {
  const li = document.createElement("li");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.id = `prefs-type-${rows.size}`;
  box.dataset.type = type;
  const label = document.createElement("label");
  label.htmlFor = box.id;
  label.textContent = `Mute ${type}`;
  li.append(box, label);
  return li;
}
function draw() {
  const types = [...new Set([...known, ...Object.keys(prefs?.types ?? {})])].sort();
  const list = $("prefs-types");
  types.forEach((type, i) => {
    let li = rows.get(type);
    if (!li) {
      li = row(type);
      rows.set(type, li);
    }
    const box = li.querySelector("input");
    box.checked = muted(type);
    box.disabled = prefs === null;
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
}

function load() {
  saving = saving.then(fetchPreferences);
}
async function fetchPreferences() {
  status("Loading…");
  try {
    prefs = await inbox.preferences();
    status("");
  } catch (error) {
    status(`Not loaded: ${error.message}`);
  }
  draw();
}
function save(type, mute) {
  pending.set(type, mute);
  saving = saving.then(async () => {
    const next = {
      ...prefs,
      types: { ...prefs.types, [type]: { ...settings(type), inApp: !mute } },
    };
    try {
      prefs = await inbox.setPreferences(next);
      status(`Saved: ${mute ? "muted" : "unmuted"} ${type}`);
    } catch (error) {
      status(`Not saved: ${error.message}`);
    }
    if (pending.get(type) === mute) pending.delete(type);
    draw();
  });
}

/** Wires the panel to `theInbox` (its status line is a live region: changes are announced). */
export function setUpPreferences(theInbox) {
  inbox = theInbox;
  if (!$("prefs").hidden) load();
}
/** The panel was opened: show the API's preferences as they are now. */
export function openPreferences() {
  draw();
  if (inbox) load();
  else status("Sign in to see your preferences.");
}
/** Types of the listed notifications join the panel. */
export function noteTypes(notifications) {
  const before = known.size;
  for (const n of notifications) known.add(n.type);
  if (known.size !== before) draw();
}

$("prefs-types").addEventListener("change", (e) => {
  const box = e.target.closest("input[data-type]");
  if (box && prefs !== null) save(box.dataset.type, box.checked);
});
$("prefs-add").addEventListener("submit", (e) => {
  e.preventDefault();
  const type = $("prefs-type").value.trim();
  if (!type) return;
  $("prefs-type").value = "";
  known.add(type);
  draw();
  rows.get(type)?.querySelector("input").focus();
});
