// dom.js — a tiny element builder. Text always goes in through textContent, never innerHTML,
// so user data can never become markup (XSS).

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'htmlFor', 'tabIndex']);

/**
 * h('button.primary', {type: 'submit', dataset: {testid: 'x'}, on: {click: fn}}, 'Send')
 * Tag may carry `.class` and `#id` suffixes. Children: strings (as text), nodes, arrays, null.
 */
export function h(spec, props = {}, ...children) {
  const [tagAndId, ...classes] = spec.split('.');
  const [tag, id] = tagAndId.split('#');
  const el = document.createElement(tag || 'div');
  if (id) el.id = id;
  if (classes.length) el.classList.add(...classes.filter(Boolean));
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') {
      for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = String(v);
    } else if (key === 'class') {
      for (const c of String(value).split(/\s+/)) if (c) el.classList.add(c);
    } else if (key === 'text') {
      el.textContent = String(value);
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace every child of `el` with `children`. */
export function replaceChildren(el, ...children) {
  el.textContent = '';
  append(el, children);
}

/** The element matching `selector` under root, or throw (a missing element is a bug). */
export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

