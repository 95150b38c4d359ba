/** The SVG's browser side, kept apart so the renderer reads as TypeScript and this as the page's script. */

/**
 * Browser-side behaviour. Plain ES2015, no external resources. Relies on the
 * document order of `#fg-frames > g` being a pre-order of the call tree
 * (parent first, subtrees contiguous) and on each <g> carrying `data-c`
 * (inclusive count) and `data-l` (length of the name prefix of its <title>).
 * Must never contain the CDATA terminator.
 */
export const CLIENT_SCRIPT = String.raw`(function () {
  'use strict';
  var C = /*CONFIG*/null;
  var doc = document;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var root = doc.getElementById('fg-frames');
  if (!root) return;
  var details = doc.getElementById('fg-details');
  var unzoomBtn = doc.getElementById('fg-unzoom');
  var searchBtn = doc.getElementById('fg-search');
  var matchedEl = doc.getElementById('fg-matched');

  function child(el, tag) {
    for (var n = el.firstChild; n; n = n.nextSibling) {
      if (n.nodeType === 1 && (n.localName || n.nodeName) === tag) return n;
    }
    return null;
  }
  function setClass(el, cls, on) {
    if (on) el.classList.add(cls); else el.classList.remove(cls);
  }
  function r2(v) { return String(Math.round(v * 100) / 100); }

  // Build the frame table; document order is a pre-order of the tree.
  var F = [];
  var open = [];
  for (var n = root.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== 1) continue;
    var rect = child(n, 'rect');
    var title = child(n, 'title');
    if (!rect || !title) continue;
    var label = title.textContent;
    var y = parseFloat(rect.getAttribute('y'));
    var f = {
      g: n, rect: rect, text: child(n, 'text'), label: label,
      name: label.substring(0, +n.getAttribute('data-l')),
      count: +n.getAttribute('data-c'),
      x: parseFloat(rect.getAttribute('x')), w: parseFloat(rect.getAttribute('width')), y: y,
      depth: Math.round((C.rootY - y) / C.fh),
      fill: rect.getAttribute('fill'), parent: -1, end: 0, index: F.length
    };
    while (open.length && F[open[open.length - 1]].depth >= f.depth) F[open.pop()].end = f.index;
    if (open.length) f.parent = open[open.length - 1];
    open.push(f.index);
    n.fgIndex = f.index;
    F.push(f);
  }
  while (open.length) F[open.pop()].end = F.length;

  function fitLabel(name, w) {
    var max = Math.floor((w - 6) / C.charW);
    if (max < 3) return '';
    if (name.length <= max) return name;
    var cut = max - 2, cc = name.charCodeAt(cut - 1);
    if (cc >= 0xd800 && cc <= 0xdbff) cut--;
    return name.slice(0, cut) + '..';
  }
  function place(f, x, w) {
    f.rect.setAttribute('x', r2(x));
    f.rect.setAttribute('width', r2(w));
    var s = fitLabel(f.name, w);
    if (!f.text) {
      if (!s) return;
      f.text = doc.createElementNS(SVGNS, 'text');
      f.text.setAttribute('y', r2(f.y + C.textDy));
      f.g.appendChild(f.text);
    }
    f.text.setAttribute('x', r2(x + 3));
    f.text.textContent = s;
  }

  var zoomed = -1;
  function zoom(i) {
    var z = F[i];
    if (z.parent < 0) { unzoom(); return; }
    var anc = {};
    for (var p = z.parent; p >= 0; p = F[p].parent) anc[p] = true;
    var scale = C.plotW / z.w;
    for (var j = 0; j < F.length; j++) {
      var f = F[j];
      if (j >= i && j < z.end) {
        place(f, C.pad + (f.x - z.x) * scale, f.w * scale);
        setClass(f.g, 'fg-hide', false); setClass(f.g, 'fg-dim', false);
      } else if (anc[j]) {
        place(f, C.pad, C.plotW);
        setClass(f.g, 'fg-hide', false); setClass(f.g, 'fg-dim', true);
      } else {
        setClass(f.g, 'fg-hide', true);
      }
    }
    zoomed = i;
    setClass(unzoomBtn, 'fg-off', false);
  }
  function unzoom() {
    if (zoomed >= 0) {
      for (var j = 0; j < F.length; j++) {
        var f = F[j];
        place(f, f.x, f.w);
        setClass(f.g, 'fg-hide', false); setClass(f.g, 'fg-dim', false);
      }
    }
    zoomed = -1;
    setClass(unzoomBtn, 'fg-off', true);
  }

  var searchText = '';
  var searching = false;
  function escapeRegExp(s) { return s.replace(/[.*+?^$(){}|[\]\\]/g, '\\$&'); }
  function search(term) {
    if (term === undefined) {
      if (typeof prompt !== 'function') return;
      term = prompt('Search frames (string or regular expression; lowercase = case-insensitive):', searchText);
    }
    if (term === null || term === undefined) return;
    if (term === '') { resetSearch(); return; }
    var flags = term.toLowerCase() === term ? 'i' : '';
    var re;
    try { re = new RegExp(term, flags); } catch (e) { re = new RegExp(escapeRegExp(term), flags); }
    // Each sample counts once: only matches without a matching ancestor add up.
    var covered = new Array(F.length);
    var sum = 0;
    for (var j = 0; j < F.length; j++) {
      var f = F[j];
      var m = re.test(f.name);
      var above = f.parent >= 0 && covered[f.parent];
      covered[j] = m || above;
      if (m && !above) sum += f.count;
      f.rect.setAttribute('fill', m ? C.highlight : f.fill);
    }
    searchText = term;
    searching = true;
    searchBtn.textContent = 'Reset Search';
    var pct = C.total > 0 ? (100 * sum / C.total) : 0;
    matchedEl.textContent = 'Matched: ' + pct.toFixed(2) + '%';
  }
  function resetSearch() {
    for (var j = 0; j < F.length; j++) F[j].rect.setAttribute('fill', F[j].fill);
    searching = false;
    searchBtn.textContent = 'Search';
    matchedEl.textContent = ' ';
  }

  function frameOf(e) {
    for (var n = e.target; n; n = n.parentNode) {
      if (n.parentNode === root) return typeof n.fgIndex === 'number' ? n.fgIndex : -1;
      if (n === root) break;
    }
    return -1;
  }
  root.addEventListener('mouseover', function (e) {
    var i = frameOf(e);
    if (i >= 0) details.textContent = F[i].label;
  });
  root.addEventListener('mouseout', function (e) {
    if (frameOf(e) >= 0) details.textContent = ' ';
  });
  root.addEventListener('click', function (e) {
    var i = frameOf(e);
    if (i >= 0) zoom(i);
  });
  unzoomBtn.addEventListener('click', function () { unzoom(); });
  searchBtn.addEventListener('click', function () {
    if (searching) resetSearch(); else search();
  });
  doc.addEventListener('keydown', function (e) {
    var k = e.key;
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (k === 'f' || k === 'F')) {
      e.preventDefault(); search();
    } else if (k === '/' && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault(); search();
    } else if (k === 'Escape' || k === 'Esc') {
      unzoom(); resetSearch();
    }
  });
})();`;
