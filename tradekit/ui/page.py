"""The script every dashboard page carries (displayed by the notebooks' first cell).

It runs in the browser, so it keeps working when the page's kernel does not:

* **kernel watchdog**: the view bumps a hidden ``.tk-kernel-beat`` widget once a second; when it
  stops changing for :data:`STALE_MS` (a dead kernel, a lost websocket), a full-width red banner
  covers the top of the page, the page reloads once the server answers, and the banner carries
  its own kill switch that posts to ``tradekit serve``'s endpoint
  (:mod:`tradekit.ui.endpoints`), not through the kernel — and says that it did;
* **new cards**: a short beep and (when the browser allows) a notification, the count in the
  tab's title;
* **keyboard**: ``j``/``k`` move a visible selection (a blue outline) down and up the pending
  cards; ``a`` approves, ``r`` rejects (types into the reason; Enter sends), ``m`` modifies (the
  quantity field) the *selected* card. The selection follows its card when others come or go;
  when the selected card is decided, the one that takes its place is selected. ``Esc`` leaves a
  field.

Nothing secret is in it: the token is read from the page's own URL.
"""

from __future__ import annotations

STALE_MS = 8000  # no kernel beat for this long: the banner (a loaded machine can stall a kernel a few s)
RELOAD_MS = 6000  # then the page reloads (if the server answers and nobody is typing in the banner)

_JS = r"""
(function () {
  if (window.tkPage) return;
  const STALE = %(stale)d, RELOAD = %(reload)d;
  const base = location.pathname.split('/voila/')[0].replace(/\/$/, '') + '/';
  const token = new URLSearchParams(location.search).get('token');
  const T = window.tkPage = {alerts: 0, banner: false, killPath: null, lastBeat: null, lastChange: Date.now()};
  function headers(json) {
    const h = json ? {'Content-Type': 'application/json'} : {};
    if (token) h['Authorization'] = 'token ' + token;
    const m = document.cookie.match(/(?:^|; )_xsrf=([^;]*)/);
    if (m) h['X-XSRFToken'] = decodeURIComponent(m[1]);
    return h;
  }
  T.liveness = async function () {
    const r = await fetch(base + 'tradekit/api/liveness', {headers: headers(false), credentials: 'same-origin'});
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  };
  T.kill = async function (reason) {
    const r = await fetch(base + 'tradekit/api/kill', {method: 'POST', headers: headers(true),
      credentials: 'same-origin', body: JSON.stringify({reason: reason})});
    const out = await r.json().catch(() => ({ok: false, message: 'HTTP ' + r.status}));
    T.killPath = out.ok ? 'endpoint' : null;
    return out;
  };
  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; }
  function showBanner(why) {
    if (T.banner) return;
    T.banner = true;
    const b = el('div', 'tk-banner');
    b.style.cssText = 'position:fixed;top:0;left:0;right:0;z-index:100000;background:#c5221f;color:#fff;' +
      'padding:14px 20px;font:600 16px system-ui,sans-serif;box-shadow:0 2px 8px rgba(0,0,0,.4)';
    b.appendChild(el('div', 'tk-banner-title', 'CONNECTION TO THE DASHBOARD LOST: ' + why +
      ' — the numbers on this page are stale and its buttons do nothing.'));
    const live = el('div', 'tk-banner-liveness', 'session: checking…');
    const status = el('div', 'tk-banner-reload', 'reloading as soon as the server answers…');
    const row = el('div');
    row.style.marginTop = '8px';
    const reason = el('input', 'tk-banner-kill-reason');
    reason.placeholder = 'kill switch: why (required)';
    reason.style.cssText = 'width:260px;padding:4px;font-size:14px';
    const btn = el('button', 'tk-banner-kill', 'Kill switch (works without the kernel)');
    btn.style.cssText = 'margin-left:8px;padding:4px 10px;font-weight:700;background:#fff;color:#c5221f;border:0;border-radius:4px';
    const res = el('span', 'tk-kill-path');
    res.style.marginLeft = '10px';
    btn.onclick = async function () {
      if (!reason.value.trim()) { res.textContent = 'type why first'; return; }
      btn.disabled = true;
      try {
        const out = await T.kill(reason.value.trim());
        res.textContent = out.ok ? ('HALTED via the tradekit serve endpoint (journal seq ' + out.seq +
          '), not the page kernel: ' + out.message) : ('kill switch FAILED: ' + out.message);
      } catch (e) { res.textContent = 'kill switch FAILED: ' + e + ' — run `tradekit kill --reason ...`'; }
      btn.disabled = false;
    };
    row.append(reason, btn, res);
    b.append(live, status, row);
    document.body.appendChild(b);
    const started = Date.now();
    const tick = async function () {
      let up = false;
      try { const l = await T.liveness(); up = true; live.textContent = 'session: ' + l.label + (l.alive ? '' : ' (' + l.why + ')'); }
      catch (e) { live.textContent = 'dashboard server not answering (' + e.message + ')'; }
      const typing = (document.activeElement === reason || reason.value) && !T.killPath;  // after a kill: reload
      if (up && !typing && Date.now() - started >= RELOAD) { status.textContent = 'reloading…'; location.reload(); return; }
      status.textContent = typing ? 'reload paused while the kill switch is in use' :
        (up ? 'reloading in ' + Math.max(0, Math.ceil((RELOAD - (Date.now() - started)) / 1000)) + ' s…' :
              'waiting for the server to come back…');
      setTimeout(tick, 1000);
    };
    tick();
  }
  T.showBanner = showBanner;
  // the kernel's heartbeat on the page
  setInterval(function () {
    const b = document.querySelector('.tk-kernel-beat');
    if (!b) return;
    const v = b.textContent;
    if (v !== T.lastBeat) { T.lastBeat = v; T.lastChange = Date.now(); return; }
    if (Date.now() - T.lastChange > STALE) showBanner('the page\'s kernel stopped answering');
  }, 500);
  // new cards: sound, notification, title
  let seen = null;
  function pendingCards() { return Array.from(document.querySelectorAll('.tk-pending .tk-card')); }
  function beep() {
    try {
      const C = window.AudioContext || window.webkitAudioContext; const ctx = T.audio || (T.audio = new C());
      const o = ctx.createOscillator(), g = ctx.createGain(); o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no audio */ }
  }
  setInterval(function () {
    const ids = new Set(pendingCards().map(c => (c.className.match(/tk-card-(\S+)/) || [])[1]));
    if (seen !== null) {
      const fresh = [...ids].filter(x => x && !seen.has(x));
      if (fresh.length) {
        T.alerts += fresh.length; beep();
        try { if (window.Notification && Notification.permission === 'granted') new Notification('tradekit: new order to approve', {body: fresh.length + ' new card(s)'}); } catch (e) { /* none */ }
      }
    }
    seen = ids;
    const n = ids.size, base_t = document.title.replace(/^\(\d+\) /, '');
    document.title = n ? '(' + n + ') ' + base_t : base_t;
    select(0);
  }, 250);
  document.addEventListener('click', function () {
    try { if (window.Notification && Notification.permission === 'default') Notification.requestPermission(); } catch (e) { /* none */ }
  }, {once: true});
  // keyboard: the selection follows its card (by order id), not a position in the list
  T.sel = 0; T.selId = null;
  function cardId(c) { return (c.className.match(/(?:^|\s)tk-card-(\S+)/) || [])[1]; }
  function select(delta) {
    const cards = pendingCards();
    if (!cards.length) { T.selId = null; T.sel = 0; return null; }
    let i = cards.findIndex(c => cardId(c) === T.selId);
    if (i < 0) i = Math.min(T.sel, cards.length - 1);  // the selected card was decided: the one now in its place
    i = Math.max(0, Math.min(cards.length - 1, i + delta));
    cards.forEach((c, k) => { if ((k === i) !== c.classList.contains('tk-selected')) c.classList.toggle('tk-selected'); });
    T.sel = i; T.selId = cardId(cards[i]);
    if (delta) cards[i].scrollIntoView({block: 'nearest'});
    return cards[i];
  }
  T.select = select;
  function part(card, prefix) { return card.querySelector('[class*="' + prefix + '"]'); }
  document.addEventListener('keydown', function (ev) {
    const t = ev.target, typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA');
    if (typing) {
      if (ev.key === 'Escape') t.blur();
      const card = t.closest('.tk-pending .tk-card');
      if (ev.key === 'Enter' && card && t.closest('[class*="tk-reason-"]') && t.value.trim()) {
        setTimeout(() => { const b = part(card, 'tk-reject-'); if (b) b.click(); }, 150);  // the text reaches the kernel first
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === 'j') { select(1); return; }
    if (ev.key === 'k') { select(-1); return; }
    const card = select(0);
    if (!card) return;
    if (ev.key === 'a') { const b = part(card, 'tk-approve-'); if (b && !b.disabled) b.click(); ev.preventDefault(); }
    else if (ev.key === 'r') { const i = part(card, 'tk-reason-'); const f = i && (i.querySelector('input') || i); if (f) f.focus(); ev.preventDefault(); }
    else if (ev.key === 'm') { const i = part(card, 'tk-qty-'); const f = i && (i.querySelector('input') || i); if (f) { f.focus(); f.select && f.select(); } ev.preventDefault(); }
  }, true);  // capture: the widgets' own key handling must not swallow Escape
})();
"""

_STYLE = """
<style>
.tk-root .tk-card.tk-selected { outline: 2px solid #1a73e8; box-shadow: 0 0 0 5px rgba(26,115,232,.18); }
.tk-kernel-beat { display: none !important; }
.tk-keys { color: #5f6368; font-size: 12px; }
</style>
"""


def script() -> str:
    return _JS % {"stale": STALE_MS, "reload": RELOAD_MS}


def page_html() -> str:
    """The style and script as one HTML block (executed by the page: Voila renders outputs trusted)."""
    return _STYLE + "<script>" + script() + "</script>"


def install() -> None:
    """Display the page script (the dashboards' first cell)."""
    from IPython.display import HTML, display

    display(HTML(page_html()))


__all__ = ["install", "page_html", "script"]
