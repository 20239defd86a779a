// actorsync inspector page: renders what the inspector server streams. No dependencies, no network but its origin.
const token = new URLSearchParams(location.search).get('token') ?? '';
// Keep the token out of the address bar, history and any referrer.
history.replaceState(null, '', '/');

const state = {
  machines: new Map(),
  nodes: [],
  log: [],
  paused: false,
  mode: 'live',
  controls: false,
  ingest: false,
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    // Through the CSSOM: the page's CSP allows no inline style attributes.
    else if (key === 'width') node.style.width = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** A state value as a dotted path (`syncing.pulling`); parallel regions, which our machines lack, joined by commas. */
const stateName = (value) => {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return Object.entries(value)
    .map(([key, inner]) => (inner && Object.keys(inner).length > 0 ? `${key}.${stateName(inner)}` : key))
    .join(',');
};
/** The top-level state of a dotted path: what the chart lights. */
const topState = (path) => path.split('.')[0];
const actorName = (node) => node.systemId ?? (node.parent ? node.id : 'coordinator');

function formatValue(value) {
  if (value === undefined) return '—';
  if (typeof value === 'number' && value > 1e12) return new Date(value).toLocaleTimeString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A small chart of a machine: its top-level states in a grid, arrows for transitions, the current one lit. */
function chart(graph, current) {
  const states = graph.states.filter((s) => s.parent === undefined);
  const perRow = 4;
  const width = 132;
  const height = 28;
  const gapX = 28;
  const gapY = 26;
  const pos = new Map();
  states.forEach((s, i) => {
    pos.set(s.path, {
      x: 8 + (i % perRow) * (width + gapX),
      y: 8 + Math.floor(i / perRow) * (height + gapY),
    });
  });
  const rows = Math.ceil(states.length / perRow);
  const root = svg('svg', {
    class: 'chart',
    width: 16 + Math.min(states.length, perRow) * (width + gapX) - gapX,
    height: 16 + rows * (height + gapY) - gapY,
    'data-machine': graph.id,
  });
  const defs = svg('defs');
  const marker = svg('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 6,
    markerHeight: 6,
    orient: 'auto',
  });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#4a5663' }));
  defs.append(marker);
  root.append(defs);
  // Transitions of nested states are drawn between their top-level states.
  for (const t of graph.transitions) {
    const a = pos.get(topState(t.source));
    const b = pos.get(topState(t.target));
    if (!a || !b || a === b) continue;
    const line = svg('line', {
      x1: a.x + width / 2,
      y1: a.y + height / 2,
      x2: b.x + width / 2,
      y2: b.y + height / 2,
    });
    line.append(Object.assign(svg('title'), { textContent: `${t.source} → ${t.target}: ${t.label}` }));
    root.append(line);
  }
  for (const s of states) {
    const p = pos.get(s.path);
    const isCurrent = s.key === topState(current);
    root.append(
      svg('rect', {
        x: p.x,
        y: p.y,
        width,
        height,
        rx: 6,
        class: isCurrent ? 'current' : '',
        'data-state': s.key,
      }),
    );
    const label = svg('text', { x: p.x + width / 2, y: p.y + height / 2 + 4, 'text-anchor': 'middle' });
    label.textContent = (s.initial ? '▸ ' : '') + s.key + (s.final ? ' ◉' : '');
    root.append(label);
  }
  return root;
}

function exitsOf(graph, current) {
  const exits = graph.transitions.filter((t) => t.source === current);
  if (exits.length === 0) return null;
  return el('div', {
    class: 'exits',
    text: `from ${current}: ${exits.map((t) => `${t.label} → ${t.target}`).join(' · ')}`,
  });
}

function control(type, entityType) {
  return fetch('/api/control', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-inspector-token': token },
    body: JSON.stringify(entityType ? { type, entityType } : { type }),
  });
}

function actorCard(node, children) {
  const current = stateName(node.value);
  const graph = node.machine ? state.machines.get(node.machine) : undefined;
  const head = el(
    'div',
    { class: 'actor-head' },
    el('span', { class: 'actor-name', text: actorName(node) }),
    el('span', { class: 'machine', text: node.machine ?? 'promise' }),
    el('span', { class: `state ${topState(current)}`, 'data-testid': 'state', text: current || node.status }),
  );
  const entityType = node.machine === 'entitySync' ? node.context?.entityType : undefined;
  if (entityType && state.controls && state.mode === 'live') {
    const sync = el('button', {
      type: 'button',
      'data-action': 'sync',
      'data-entity': entityType,
      text: 'Sync',
    });
    sync.addEventListener('click', () => control('SYNC', entityType));
    const cancel = el('button', {
      type: 'button',
      'data-action': 'cancel',
      'data-entity': entityType,
      text: 'Cancel',
    });
    cancel.addEventListener('click', () => control('CANCEL', entityType));
    head.append(sync, cancel);
  }
  const details = el('dl', { class: 'context' });
  if (node.context && typeof node.context === 'object') {
    for (const [key, value] of Object.entries(node.context)) {
      if (value === undefined) continue;
      details.append(el('dt', { text: key }), el('dd', { text: formatValue(value) }));
    }
  }
  return el(
    'div',
    {
      class: 'actor',
      'data-actor': actorName(node),
      'data-state': topState(current),
      'data-path': current,
      'data-machine': node.machine ?? '',
    },
    head,
    graph ? chart(graph, current) : null,
    graph ? exitsOf(graph, current) : null,
    details,
    children.length ? el('div', { class: 'children' }, ...children) : null,
  );
}

function renderTree() {
  const bySession = new Map(state.nodes.map((n) => [n.sessionId, n]));
  const kids = new Map();
  const roots = [];
  for (const node of state.nodes) {
    if (node.parent && bySession.has(node.parent)) {
      if (!kids.has(node.parent)) kids.set(node.parent, []);
      kids.get(node.parent).push(node);
    } else roots.push(node);
  }
  const build = (node) => actorCard(node, (kids.get(node.sessionId) ?? []).map(build));
  $('tree').replaceChildren(...roots.map(build));
  renderProgress();
  renderActorFilter();
}

/**
 * The run a progress bar shows: the current one, unless it finished with nothing to do while an earlier run had
 * items; then that run (an empty follow-up run would otherwise turn 1000/1000 into 0/0).
 */
function shownRun(node) {
  const c = node.context ?? {};
  const current = {
    runId: c.runId,
    state: topState(stateName(node.value)),
    progress: c.progress,
    failures: c.failures,
    current: true,
  };
  const progress = c.progress ?? { totalItems: 0, retries: 0 };
  const finished = ['synced', 'error', 'idle'].includes(current.state);
  const last = node.lastActiveRun;
  const didNothing =
    progress.totalItems === 0 &&
    !progress.retries &&
    !progress.pulledItems &&
    !progress.deletedItems &&
    !progress.refusedItems;
  if (finished && didNothing && last && last.runId !== c.runId) {
    return {
      runId: last.runId,
      state: stateName(last.state),
      progress: last.progress,
      failures: last.failures,
      current: false,
    };
  }
  return current;
}

/** One bar per entity type, showing the published `SyncProgress` (its percent and counts), never its own sums. */
function renderProgress() {
  const entities = state.nodes.filter((n) => n.machine === 'entitySync');
  const bars = entities.map((node) => {
    const c = node.context ?? {};
    const run = shownRun(node);
    const progress = run.progress ?? { totalItems: 0, syncedItems: 0, failedItems: 0, percent: 0 };
    const { percent, totalItems, syncedItems, failedItems } = progress;
    const failedShare = totalItems > 0 ? (failedItems / totalItems) * 100 : 0;
    const since = run.current ? '' : ` (run ${run.runId}; nothing to sync since)`;
    // The pull's side: what it stored, removed and refused, and the phase while a run is under way.
    const pulled = [
      progress.pulledItems ? `${progress.pulledItems} pulled` : '',
      progress.deletedItems ? `${progress.deletedItems} deleted` : '',
      progress.refusedItems ? `${progress.refusedItems} refused` : '',
      progress.conflicts ? `${progress.conflicts} conflicts` : '',
    ].filter(Boolean);
    const phase = run.state === 'syncing' && progress.phase ? ` (${progress.phase}ing)` : '';
    const label = `${c.entityType} · ${run.state}${phase} · ${syncedItems}/${totalItems} synced${failedItems ? `, ${failedItems} failed` : ''}${pulled.length ? `, ${pulled.join(', ')}` : ''}${since}`;
    return el(
      'div',
      { class: 'bar', 'data-progress': c.entityType, 'data-percent': String(percent) },
      el('div', { class: 'bar-label' }, el('span', { text: label }), el('span', { text: `${percent}%` })),
      el(
        'div',
        { class: 'bar-track' },
        el('div', { class: 'bar-fill', width: `${Math.max(0, percent - failedShare)}%` }),
        failedShare ? el('div', { class: 'bar-fill failed', width: `${failedShare}%` }) : null,
      ),
    );
  });
  $('progress').replaceChildren(...bars);
  renderFailures(entities);
}

/** The failed items of each type's last run with items: dead letters and items that will be retried, with why. */
function renderFailures(entities) {
  const groups = entities.flatMap((node) => {
    const run = shownRun(node);
    const failed = Array.isArray(run.failures) ? run.failures : [];
    if (failed.length === 0) return [];
    const total = run.progress?.failedItems ?? failed.length;
    const items = failed.map((item) =>
      el(
        'li',
        { 'data-failed': String(item.id), class: item.deadLettered ? 'dead' : 'retry' },
        el('span', { class: 'who', text: `${item.id} ` }),
        el('span', {
          class: 'type',
          text: `${item.deadLettered ? 'dead-lettered' : 'will be retried'} (attempts ${item.attempts})`,
        }),
        el('span', { text: ` ${item.error}` }),
      ),
    );
    const more = total > failed.length ? el('li', { text: `… and ${total - failed.length} more` }) : null;
    return [
      el('h3', { text: `${node.context?.entityType} · run ${run.runId} · ${total} failed` }),
      el('ol', { class: 'failures', 'data-failures': String(node.context?.entityType) }, ...items, more),
    ];
  });
  $('failures').replaceChildren(...(groups.length ? groups : [el('p', { class: 'empty', text: 'none' })]));
}

function renderActorFilter() {
  const select = $('log-actor');
  const chosen = select.value;
  const names = [...new Set(state.nodes.map(actorName))];
  select.replaceChildren(
    el('option', { value: '', text: 'all actors' }),
    ...names.map((n) => el('option', { value: n, text: n })),
  );
  select.value = names.includes(chosen) ? chosen : '';
}

function nameOfSession(sessionId) {
  const node = state.nodes.find((n) => n.sessionId === sessionId);
  return node ? actorName(node) : sessionId;
}

function renderLog() {
  const actor = $('log-actor').value;
  const type = $('log-type').value.trim().toLowerCase();
  const items = state.log
    .filter(
      (r) =>
        (!actor || nameOfSession(r.sessionId) === actor) && (!type || r.type.toLowerCase().includes(type)),
    )
    .slice(-300)
    .reverse()
    .map((r) =>
      el(
        'li',
        { 'data-type': r.type },
        el('span', {
          class: 'who',
          text: `${new Date(r.at).toLocaleTimeString()} → ${nameOfSession(r.sessionId)} `,
        }),
        el('span', { class: 'type', text: r.type }),
        el('span', {
          text: Object.keys(r.payload ?? {}).length ? ` ${JSON.stringify(r.payload).slice(0, 160)}` : '',
        }),
      ),
    );
  $('log').replaceChildren(...items);
}

// Events arrive in bursts of hundreds a second; the log is redrawn at most every 100 ms.
let logTimer;
function scheduleLogRender() {
  if (logTimer !== undefined) return;
  logTimer = setTimeout(() => {
    logTimer = undefined;
    renderLog();
  }, 100);
}

function setMode(mode, controls) {
  state.mode = mode;
  state.controls = controls;
  $('mode').textContent = mode;
  $('mode').className = `badge ${mode === 'live' ? 'live' : ''}`;
  $('replay').hidden = mode !== 'replay';
  $('sync-all').hidden = !(controls && mode === 'live');
  // Say why there are no buttons instead of leaving them out silently.
  const note = $('controls-note');
  note.hidden = controls || mode !== 'live';
  note.textContent = state.ingest
    ? 'Sync / Cancel unavailable: the actors run in a web app; drive them from the app'
    : 'Sync / Cancel unavailable: no coordinator is attached';
}

async function showReplayAt(index) {
  const response = await fetch(`/api/trace/state?at=${index}`, { headers: { 'x-inspector-token': token } });
  const view = await response.json();
  state.nodes = view.tree;
  state.log = view.log;
  $('replay-time').textContent = view.at ? new Date(view.at).toLocaleTimeString() : '';
  renderTree();
  renderLog();
}

function connect() {
  const source = new EventSource(`/api/stream?token=${encodeURIComponent(token)}`);
  source.addEventListener('open', () => {
    $('status').textContent = 'connected';
  });
  source.addEventListener('error', () => {
    $('status').textContent = 'disconnected';
  });
  source.addEventListener('init', (message) => {
    const init = JSON.parse(message.data);
    state.machines = new Map(init.machines.map((m) => [m.id, m]));
    state.ingest = init.ingest === true;
    setMode(init.mode, init.controls);
    state.nodes = init.tree;
    state.log = init.log;
    if (init.mode === 'replay') {
      const slider = $('slider');
      slider.max = String(Math.max(0, init.trace.count - 1));
      slider.value = slider.max;
      showReplayAt(Number(slider.value));
    } else {
      renderTree();
      renderLog();
    }
  });
  source.addEventListener('tree', (message) => {
    if (state.paused) return;
    state.nodes = JSON.parse(message.data);
    renderTree();
  });
  source.addEventListener('log', (message) => {
    state.log.push(JSON.parse(message.data));
    if (state.log.length > 1000) state.log.splice(0, state.log.length - 1000);
    if (!state.paused) scheduleLogRender();
  });
  source.addEventListener('controls', () => setMode(state.mode, true));
  // A trace was loaded: start over from a fresh init (the token is no longer in the address bar to reload with).
  source.addEventListener('reload', () => {
    source.close();
    connect();
  });
}

$('slider').addEventListener('input', (event) => showReplayAt(Number(event.target.value)));
$('log-actor').addEventListener('change', renderLog);
$('log-type').addEventListener('input', renderLog);
$('log-pause').addEventListener('click', () => {
  state.paused = !state.paused;
  $('log-pause').textContent = state.paused ? 'Resume' : 'Pause';
  if (!state.paused) {
    renderTree();
    renderLog();
  }
});
$('sync-all').addEventListener('click', () => control('SYNC_ALL'));
connect();
