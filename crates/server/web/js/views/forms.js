// views/forms.js — labelled form fields with an inline error line each (tied to the input by
// aria-describedby), and helpers to show an ApiError's per-field messages next to its fields.

import { h } from '../dom.js';

let counter = 0;

/**
 * @param {{label: string, name: string, type?: string, autocomplete?: string, hint?: string,
 *          required?: boolean, testid?: string, maxlength?: number}} o
 */
export function field(o) {
  const id = `f-${o.name}-${++counter}`;
  const errorId = `${id}-error`;
  const hintId = o.hint ? `${id}-hint` : null;
  const input = h('input.input', {
    id,
    name: o.name,
    type: o.type || 'text',
    autocomplete: o.autocomplete || 'off',
    required: o.required ? true : undefined,
    maxlength: o.maxlength,
    spellcheck: 'false',
    autocapitalize: 'off',
    'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
    dataset: { testid: o.testid || `input-${o.name}` },
  });
  const error = h('p.field-error', { id: errorId, dataset: { testid: `error-${o.name}` }, hidden: true });
  const wrap = h(
    'div.field',
    {},
    h('label', { htmlFor: id, text: o.label }),
    input,
    o.hint ? h('p.field-hint', { id: hintId, text: o.hint }) : null,
    error,
  );
  return { wrap, input, error, name: o.name };
}

export function setFieldError(f, message) {
  f.error.textContent = message || '';
  f.error.hidden = !message;
  if (message) f.input.setAttribute('aria-invalid', 'true');
  else f.input.removeAttribute('aria-invalid');
}

export function clearErrors(fields, formError) {
  for (const f of fields) setFieldError(f, '');
  if (formError) {
    formError.textContent = '';
    formError.hidden = true;
  }
}

/**
 * Show an error: per-field messages next to their fields, the rest in the form's error line.
 * `aliases` maps words of a plain `detail` (e.g. "Username already registered") to a field.
 */
export function showError(err, fields, formError, aliases = {}) {
  let placed = false;
  const byName = new Map(fields.map((f) => [f.name, f]));
  for (const [name, msg] of Object.entries(err.fields || {})) {
    const f = byName.get(name);
    if (f) {
      setFieldError(f, msg);
      placed = true;
    }
  }
  if (!placed && err.message) {
    for (const [word, name] of Object.entries(aliases)) {
      if (err.message.toLowerCase().includes(word) && byName.has(name)) {
        setFieldError(byName.get(name), err.message);
        placed = true;
        break;
      }
    }
  }
  if (!placed && formError) {
    formError.textContent = err.message || 'Something went wrong. Please try again.';
    formError.hidden = false;
  }
  const firstInvalid = fields.find((f) => !f.error.hidden);
  if (firstInvalid) firstInvalid.input.focus();
}

/** Mark empty required fields; returns true if all are filled. */
export function checkRequired(fields) {
  let ok = true;
  for (const f of fields) {
    if (f.input.required && !f.input.value.trim()) {
      setFieldError(f, 'Required.');
      if (ok) f.input.focus();
      ok = false;
    }
  }
  return ok;
}

/** Disable a submit button while `work` runs, with a busy label. */
export async function busy(button, label, work) {
  const old = button.textContent;
  button.disabled = true;
  button.textContent = label;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.textContent = old;
    button.removeAttribute('aria-busy');
  }
}
