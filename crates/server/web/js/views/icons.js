// views/icons.js — the few line icons the message actions, search, muting and attachments use,
// drawn as inline SVG (built with the DOM, so the Content-Security-Policy has nothing to object
// to). They inherit the text colour and are hidden from screen readers: the buttons carrying
// them have labels.

const NS = 'http://www.w3.org/2000/svg';

const SHAPES = {
  // a smiling face with a small plus: "add a reaction"
  react: [
    ['path', { d: 'M20 11.5A8.5 8.5 0 1 1 12.5 3.05' }],
    ['path', { d: 'M8.5 14.5c.9 1.2 2.1 1.8 3.5 1.8s2.6-.6 3.5-1.8' }],
    ['circle', { cx: '9', cy: '10', r: '1', fill: 'currentColor', stroke: 'none' }],
    ['circle', { cx: '15', cy: '10', r: '1', fill: 'currentColor', stroke: 'none' }],
    ['path', { d: 'M19 2v6M16 5h6' }],
  ],
  reply: [['path', { d: 'M9 14 4 9l5-5' }], ['path', { d: 'M4 9h10.5a5.5 5.5 0 0 1 0 11H11' }]],
  more: [
    ['circle', { cx: '5', cy: '12', r: '1.7', fill: 'currentColor', stroke: 'none' }],
    ['circle', { cx: '12', cy: '12', r: '1.7', fill: 'currentColor', stroke: 'none' }],
    ['circle', { cx: '19', cy: '12', r: '1.7', fill: 'currentColor', stroke: 'none' }],
  ],
  edit: [['path', { d: 'M4 20h4L19 9l-4-4L4 16v4z' }], ['path', { d: 'm13.5 6.5 4 4' }]],
  trash: [
    ['path', { d: 'M4 7h16M10 11v6M14 11v6' }],
    ['path', { d: 'M6 7l1 13h10l1-13M9 7V4h6v3' }],
  ],
  close: [['path', { d: 'M6 6l12 12M18 6 6 18' }]],
  search: [['circle', { cx: '11', cy: '11', r: '6.5' }], ['path', { d: 'm16 16 4.5 4.5' }]],
  bell: [
    ['path', { d: 'M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15z' }],
    ['path', { d: 'M10 20.5a2 2 0 0 0 4 0' }],
  ],
  // a bell struck through: "muted"
  'bell-off': [
    ['path', { d: 'M8.2 5.9A6 6 0 0 1 18 11v4M6 11v5l-1.5 2H17' }],
    ['path', { d: 'M10 20.5a2 2 0 0 0 4 0' }],
    ['path', { d: 'M3.5 3.5l17 17' }],
  ],
  paperclip: [['path', { d: 'M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5' }]],
  file: [['path', { d: 'M13 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z' }], ['path', { d: 'M13 2v7h7' }]],
  download: [['path', { d: 'M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4' }], ['path', { d: 'M7 10l5 5 5-5M12 15V3' }]],
};

/** An icon by name (see SHAPES), 1em square by default. */
export function icon(name, { size = '1em' } = {}) {
  const svg = document.createElementNS(NS, 'svg');
  for (const [k, v] of Object.entries({
    viewBox: '0 0 24 24',
    width: size,
    height: size,
    fill: 'none',
    stroke: 'currentColor',
    'stroke-width': '2',
    'stroke-linecap': 'round',
    'stroke-linejoin': 'round',
    'aria-hidden': 'true',
    focusable: 'false',
    class: 'icon',
  })) {
    svg.setAttribute(k, v);
  }
  for (const [tag, attrs] of SHAPES[name] || []) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.appendChild(el);
  }
  return svg;
}
