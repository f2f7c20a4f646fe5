"""The pages' HTML, rendered on the hub: plain strings, everything escaped, no build step.

Pure: these functions take plain data and return text. One stylesheet and one small
script are served from here too (the hub is offline: no CDN, no web fonts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from hub.web.text import TEXT, t

KINDS = (
    "door",
    "motion",
    "smoke",
    "gas",
    "co",
    "water",
    "button",
    "wearable",
    "sensor",
    "radar",
)
ROOMS = {
    "zh": ("客厅", "卧室", "厨房", "卫生间", "门口", "阳台"),
    "en": ("living room", "bedroom", "kitchen", "bathroom", "entrance", "balcony"),
}


def e(value: object) -> str:
    """Escape for HTML text and attribute values."""
    return escape(str(value), quote=True)


def dom_id(prefix: str, key: str) -> str:
    """A stable element id for a device key (keys hold spaces and colons)."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def kind_label(lang: str, kind: str) -> str:
    """A device kind (paired, or as decoded) in words."""
    return t(lang, f"kind_{kind}") if f"kind_{kind}" in TEXT else kind


def alarm_state_label(lang: str, state: str) -> str:
    """An alarm state in words."""
    try:
        return t(lang, f"alarm_{state}")
    except KeyError:
        return state


def alarm_kind_label(lang: str, kind: str) -> str:
    """An alarm kind in words."""
    try:
        return t(lang, f"alarm_kind_{kind}")
    except KeyError:
        return kind


def ago(lang: str, seconds: float | None) -> str:
    """'5 分钟前' / '5 min ago'; 'never' for None."""
    if seconds is None:
        return t(lang, "never")
    if seconds < 60:
        return t(lang, "just_now")
    if seconds < 3600:
        span = t(lang, "minutes", n=int(seconds // 60))
    elif seconds < 86400:
        span = t(lang, "hours", n=int(seconds // 3600))
    else:
        span = t(lang, "days", n=int(seconds // 86400))
    return t(lang, "ago", t=span)


def csrf_field(token: str) -> str:
    """The hidden CSRF field every form carries."""
    return f'<input type="hidden" name="csrf" value="{e(token)}">'


def button_form(action: str, label: str, csrf: str, *, cls: str = "", extra: str = "") -> str:
    """A form that is just one big button."""
    return (
        f'<form method="post" action="{e(action)}" {extra}>{csrf_field(csrf)}'
        f'<button type="submit" class="{e(cls)}">{e(label)}</button></form>'
    )


@dataclass(frozen=True)
class Nav:
    """Which tab is shown and who is looking."""

    current: str
    installer: bool


def layout(
    lang: str,
    title: str,
    body: str,
    *,
    path: str,
    csrf: str = "",
    nav: Nav | None = None,
    live: str = "",
    flash: str = "",
    error: str = "",
) -> str:
    """The whole page around `body`."""
    other = "en" if lang == "zh" else "zh"
    tabs = ""
    if nav is not None:
        items = [("devices", "/installer/devices"), ("walk", "/installer/walk")]
        items.append(("survey", "/installer/survey"))
        items = items if nav.installer else []
        items.append(("family", "/family"))
        links = "".join(
            f'<a href="{href}" class="tab{" on" if name == nav.current else ""}">'
            f"{e(t(lang, 'tab_' + name))}</a>"
            for name, href in items
        )
        tabs = f'<nav class="tabs">{links}</nav>'
    logout = (
        f'<form method="post" action="/logout" class="inline">{csrf_field(csrf)}'
        f'<button class="link" type="submit">{e(t(lang, "logout"))}</button></form>'
        if csrf and nav is not None
        else ""
    )
    notes = ""
    if flash:
        notes += f'<p class="flash ok" role="status">{e(flash)}</p>'
    if error:
        notes += f'<p class="flash bad" role="alert">{e(error)}</p>'
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><link rel="stylesheet" href="/static/app.css"></head>
<body data-live="{e(live)}" data-lost="{e(t(lang, "live_lost"))}">
<header><span class="brand">{e(t(lang, "title"))}</span>
<a class="link" href="/lang/{other}?next={e(path)}">{e(t(lang, "lang_other"))}</a>{logout}</header>
{tabs}<main><h1>{e(title)}</h1>{notes}<p class="flash bad" id="lost" hidden></p>{body}</main>
<script src="/static/app.js"></script></body></html>"""


def login_body(lang: str, csrf: str) -> str:
    """The PIN form."""
    return (
        f'<form method="post" action="/login" class="card">{csrf_field(csrf)}'
        f'<label for="pin">{e(t(lang, "pin"))}</label>'
        '<input id="pin" name="pin" type="password" inputmode="numeric" pattern="[0-9]*" '
        'autocomplete="one-time-code" maxlength="8" required autofocus>'
        f'<button type="submit" class="primary">{e(t(lang, "unlock"))}</button></form>'
        f'<p class="help">{e(t(lang, "login_help"))}</p>'
    )


def error_body(lang: str, message: str, back: str) -> str:
    """An error: what went wrong, that nothing changed, the way back."""
    return (
        f'<div class="card"><p class="flash bad" role="alert">{e(message)}</p>'
        f"<p>{e(t(lang, 'nothing_changed'))}</p>"
        f'<a class="button" href="{e(back)}">{e(t(lang, "back"))}</a></div>'
    )


# -- pairing -------------------------------------------------------------------------


def join_fragment(lang: str, remaining: float, window_s: int, csrf: str) -> str:
    """The permit-join card: a button, or a countdown and a stop button."""
    if remaining > 0:
        secs = int(remaining + 0.999)
        text = e(t(lang, "permit_open", s="§"))
        text = text.replace("§", f'<b data-countdown="{secs}">{secs}</b>')
        return f'<p class="open">{text}</p>' + button_form(
            "/installer/permit-stop", t(lang, "stop"), csrf, cls="secondary"
        )
    return f"<p>{e(t(lang, 'permit_closed'))}</p>" + button_form(
        "/installer/permit-join", t(lang, "permit_join", s=window_s), csrf, cls="primary"
    )


def _kind_select(lang: str, chosen: str) -> str:
    # An unknown decoded type (an RF "switch" may be a door or a button): the installer chooses.
    options = (
        ""
        if chosen in KINDS
        else f'<option value="" disabled selected>{e(t(lang, "choose_kind"))}</option>'
    ) + "".join(
        f'<option value="{k}"{" selected" if k == chosen else ""}>{e(kind_label(lang, k))}</option>'
        for k in KINDS
    )
    return f'<select name="kind" required>{options}</select>'


def _rooms(lang: str) -> str:
    rooms = "".join(f'<option value="{e(r)}">' for r in ROOMS.get(lang, ROOMS["zh"]))
    return f'<datalist id="rooms">{rooms}</datalist>'


def candidates_fragment(
    lang: str, candidates: Sequence[Any], paired: Sequence[Any], csrf: str
) -> str:
    """Devices heard while permit join was open, each with its pairing form."""
    if not candidates:
        return f'<p id="none-heard" class="muted">{e(t(lang, "none_heard"))}</p>'
    replace_opts = f'<option value="">{e(t(lang, "replace_none"))}</option>' + "".join(
        f'<option value="{e(d.key)}">{e(d.name or d.key)} {e(d.room)}</option>' for d in paired
    )
    cards = []
    for c in candidates:
        signal = f"{c.rssi} dBm" if c.rssi is not None else "—"
        cards.append(
            f'<div class="card cand" id="{dom_id("c", c.key)}">'
            f'<p class="title">{e(kind_label(lang, c.kind))} '
            f'<span class="key">{e(c.key)}</span></p>'
            f'<p class="meta"><span data-live="signal">{e(t(lang, "signal"))} {e(signal)}'
            f'</span> · <span data-live="count">{c.count} {e(t(lang, "times"))}</span></p>'
            f'<form method="post" action="/installer/pair">{csrf_field(csrf)}'
            f'<input type="hidden" name="key" value="{e(c.key)}">'
            f'<label>{e(t(lang, "name"))}<input name="name" maxlength="40" required></label>'
            f"<label>{e(t(lang, 'kind'))}{_kind_select(lang, c.kind)}</label>"
            f'<label>{e(t(lang, "room"))}<input name="room" maxlength="40" list="rooms"></label>'
            + (
                f'<label>{e(t(lang, "replaces"))}<select name="replaces">{replace_opts}'
                "</select></label>"
                if paired
                else ""
            )
            + f'<button type="submit" class="primary">{e(t(lang, "pair"))}</button></form></div>'
        )
    return "".join(cards) + _rooms(lang)


@dataclass(frozen=True)
class DeviceView:
    """A paired device as the pages show it."""

    key: str
    name: str
    room: str
    kind: str
    online: bool | None  # None: not heard since the hub started
    battery: int | None
    battery_low: bool
    seen_ago_s: float | None
    rssi: int | None


def _status(lang: str, d: DeviceView) -> str:
    bits = []
    if d.online is False:
        bits.append(f'<b class="bad">{e(t(lang, "offline"))}</b>')
    elif d.online:
        bits.append(f'<span class="good">{e(t(lang, "online"))}</span>')
    if d.battery_low:
        bits.append(f'<b class="bad">{e(t(lang, "battery_low"))}</b>')
    elif d.battery is not None:
        bits.append(f"{e(t(lang, 'battery'))} {d.battery}%")
    bits.append(f"{e(t(lang, 'last_seen'))}: {e(ago(lang, d.seen_ago_s))}")
    return " · ".join(bits)


def paired_fragment(lang: str, devices: Sequence[DeviceView], csrf: str) -> str:
    """Paired devices with their rename and remove forms."""
    if not devices:
        return f'<p id="none-paired" class="muted">{e(t(lang, "none_paired"))}</p>'
    cards = []
    for d in devices:
        confirm = f"{t(lang, 'remove')} {d.name or d.key}?"
        cards.append(
            f'<div class="card" id="{dom_id("d", d.key)}">'
            f'<p class="title">{e(d.name or d.key)} <span class="muted">{e(d.room)} · '
            f"{e(kind_label(lang, d.kind))}</span></p>"
            f'<p class="meta" data-live="status">{_status(lang, d)}</p>'
            f"<details><summary>{e(t(lang, 'edit'))}</summary>"
            f'<form method="post" action="/installer/rename">{csrf_field(csrf)}'
            f'<input type="hidden" name="key" value="{e(d.key)}">'
            f'<label>{e(t(lang, "name"))}<input name="name" maxlength="40" value="{e(d.name)}">'
            f'</label><label>{e(t(lang, "room"))}<input name="room" maxlength="40" '
            f'list="rooms" value="{e(d.room)}"></label>'
            f'<button type="submit" class="secondary">{e(t(lang, "save"))}</button></form>'
            + button_form(
                "/installer/remove",
                t(lang, "remove"),
                csrf,
                cls="danger",
                extra=f'data-confirm="{e(confirm)}"',
            ).replace("</form>", f'<input type="hidden" name="key" value="{e(d.key)}"></form>')
            + "</details></div>"
        )
    return "".join(cards)


def devices_body(lang: str, join: str, candidates: str, paired: str) -> str:
    """The pairing page."""
    return (
        f'<section class="card" id="join">{join}</section>'
        f'<h2>{e(t(lang, "heard"))}</h2><section id="candidates" data-merge>{candidates}</section>'
        f'<h2>{e(t(lang, "paired"))}</h2><section id="paired" data-merge>{paired}</section>'
    )


# -- walk test -----------------------------------------------------------------------


def _item_name(lang: str, item: Any) -> str:
    # The hub's own buttons are named in the page's language; devices as the installer named them.
    if item.kind.startswith("hub_"):
        return kind_label(lang, item.kind)
    return str(item.name or item.key)


def walk_fragment(
    lang: str,
    walk: Any,
    csrf: str,
    last_report: dict[str, Any] | None = None,
    remaining_s: float = 0.0,
) -> str:
    """The checklist, the test alarm and the finish button (or the last report and the
    start button)."""
    if walk is None:
        last = ""
        if last_report is not None:
            missing = "".join(
                f"<li>{e(_item_name(lang, _Named(d)))} {e(d['room'])}</li>"
                for d in last_report["devices"]
                if not d["ok"]
            )
            state = last_report["test_alarm"]["state"]
            shown = alarm_state_label(lang, state) if state else "—"
            done = t(lang, "walk_progress", done=last_report["passed"], total=last_report["total"])
            timed_out = (
                f'<p class="bad" id="walk-timed-out">{e(t(lang, "walk_timed_out"))}</p>'
                if last_report.get("ended") == "timeout"
                else ""
            )
            last = (
                f'<div class="card" id="last-report"><p class="title">{e(t(lang, "walk_last"))}'
                f"</p>{timed_out}<p>{e(done)}</p>"
                f"<p>{e(t(lang, 'test_alarm_state', state=shown))}</p>"
                + (
                    f'<p class="bad">{e(t(lang, "walk_missing"))}</p><ul>{missing}</ul>'
                    if missing
                    else ""
                )
                + "</div>"
            )
        return (
            last
            + f'<p class="muted">{e(t(lang, "walk_none"))}</p>'
            + button_form("/installer/walk/start", t(lang, "walk_start"), csrf, cls="primary")
        )
    items = "".join(
        f'<li id="{dom_id("w", i.key)}" class="{"ticked" if i.heard_at else "waiting"}">'
        f'<span class="tick" aria-hidden="true">{"✔" if i.heard_at else "○"}</span>'
        f"<span>{e(_item_name(lang, i))}"
        + (
            ""
            if i.kind.startswith("hub_")
            else f" <span class='muted'>{e(i.room)} · {e(kind_label(lang, i.kind))}</span>"
        )
        + "</span>"
        f'<span class="state">{e(t(lang, "ticked" if i.heard_at else "waiting"))}</span></li>'
        for i in walk.items.values()
    )
    progress = t(lang, "walk_progress", done=walk.done, total=len(walk.items))
    minutes = int(remaining_s // 60) + 1
    mode = f'<p class="open" id="walk-mode">{e(t(lang, "walk_mode", m=minutes))}</p>'
    alarm = ""
    if walk.alarm_id:
        state = alarm_state_label(lang, walk.alarm_state or "raised")
        alarm = (
            f'<p class="alarm" id="test-alarm">{e(t(lang, "test_alarm_state", state=state))}</p>'
        )
    return (
        mode
        + f'<p class="progress" id="progress">{e(progress)}</p><ul class="checklist">{items}</ul>'
        + alarm
        + button_form("/installer/walk/test-alarm", t(lang, "test_alarm"), csrf, cls="secondary")
        + button_form("/installer/walk/finish", t(lang, "walk_finish"), csrf, cls="primary")
    )


@dataclass(frozen=True)
class _Named:
    """A report's device line, read like a checklist item."""

    line: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.line["kind"])

    @property
    def name(self) -> str:
        return str(self.line["name"])

    @property
    def key(self) -> str:
        return str(self.line["device"])


def walk_body(lang: str, fragment: str) -> str:
    """The walk-test page."""
    return f'<p class="help">{e(t(lang, "walk_intro"))}</p><section id="walk">{fragment}</section>'


# -- survey --------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One survey line: what, the figure, good (True/False/None) and advice key."""

    label: str
    figure: str
    good: bool | None
    advice: str


def survey_body(lang: str, measures: Iterable[Measure], csrf: str) -> str:
    """The survey page: each figure with its verdict and advice."""
    rows = []
    for m in measures:
        verdict = {True: "good", False: "poor", None: "unknown"}[m.good]
        advice = t(lang, "advice_good") if m.good else t(lang, m.advice) if m.good is False else ""
        rows.append(
            f'<div class="card measure v-{verdict}"><p class="title">{e(m.label)}</p>'
            f'<p class="figure"><span>{e(m.figure)}</span>'
            f'<b class="verdict">{e(t(lang, verdict))}</b></p>'
            + (f'<p class="advice">{e(advice)}</p>' if advice else "")
            + "</div>"
        )
    return (
        f'<p class="help">{e(t(lang, "survey_intro"))}</p>'
        + "".join(rows)
        + f'<a class="button primary" href="/installer/survey">{e(t(lang, "measure"))}</a>'
    )


# -- family --------------------------------------------------------------------------


def family_fragment(
    lang: str,
    *,
    last_sign_ago_s: float,
    connected: bool,
    alarms: Sequence[dict[str, Any]],
    devices: Sequence[DeviceView],
) -> str:
    """What a family member looks at: is she fine, is anything open, do devices work."""
    sign_cls = "good" if last_sign_ago_s < 6 * 3600 else "bad"
    open_alarms = [a for a in alarms if a["state"] not in ("closed", "cancelled")]
    if open_alarms:
        alerts = "".join(
            f'<li class="bad">{e(alarm_kind_label(lang, a["kind"]))}'
            f"{' (' + e(t(lang, 'test')) + ')' if a['test'] else ''}: "
            f"<b>{e(alarm_state_label(lang, a['state']))}</b> · {e(ago(lang, a['age_s']))}</li>"
            for a in open_alarms
        )
        alerts = f'<ul class="alerts">{alerts}</ul>'
    else:
        alerts = f'<p class="good">{e(t(lang, "no_alerts"))}</p>'
    troubled = [d for d in devices if d.online is False or d.battery_low]
    fine = [d for d in devices if d not in troubled]
    dev = (
        f'<p class="good">{e(t(lang, "all_well", n=len(devices)))}</p>'
        if not troubled
        else f'<p class="bad">{e(t(lang, "some_trouble", n=len(troubled)))}</p>'
    )
    rows = "".join(
        f'<li class="{"bad" if d in troubled else ""}"><b>{e(d.name or kind_label(lang, d.kind))}'
        f"</b> {e(d.room)}<br><small>{_status(lang, d)}</small></li>"
        for d in troubled + fine
    )
    dev += f'<ul class="devices">{rows}</ul>' if rows else ""
    link = t(lang, "connected" if connected else "disconnected")
    return (
        f'<div class="card big"><p class="title">{e(t(lang, "last_sign"))}</p>'
        f'<p class="figure {sign_cls}" id="last-sign">{e(ago(lang, last_sign_ago_s))}</p></div>'
        f'<div class="card"><p class="title">{e(t(lang, "alerts"))}</p>{alerts}</div>'
        f'<div class="card"><p class="title">{e(t(lang, "devices_title"))}</p>{dev}</div>'
        f'<div class="card"><p class="title">{e(t(lang, "hub_link"))}</p>'
        f'<p class="{"good" if connected else "bad"}">{e(link)}</p></div>'
    )


def family_body(
    fragment: str, pictures: Sequence[str] = (), *, lang: str = "zh", weekly: str = ""
) -> str:
    """The family page: the live part, then the week's words (周报) and the pictures (inline
    SVG drawn on the hub, escaped there; outside the live part, so a live update does not
    redraw them)."""
    week = (
        f'<div class="card" id="weekly"><p class="title">{e(t(lang, "weekly_title"))}</p>'
        f"<p>{e(weekly)}</p></div>"
        if weekly
        else ""
    )
    cards = "".join(f'<div class="card picture">{svg}</div>' for svg in pictures)
    return f'<section id="family">{fragment}</section>{week}{cards}'


STYLE = """
*{box-sizing:border-box}
body{margin:0;font:18px/1.5 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;
color:#1b1b1b;background:#f3f4f6}
header{display:flex;align-items:center;gap:12px;padding:10px 14px;background:#b71c1c;color:#fff}
header .brand{flex:1;font-weight:600}
header .link{color:#fff}
.tabs{display:flex;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0}
.tab{flex:1;text-align:center;padding:14px 4px;min-height:52px;color:#333;text-decoration:none}
.tab.on{border-bottom:4px solid #b71c1c;font-weight:700;color:#b71c1c}
main{padding:12px 14px 40px;max-width:640px;margin:0 auto}
h1{font-size:24px;margin:8px 0 12px}
h2{font-size:20px;margin:22px 0 8px}
.card{background:#fff;border-radius:12px;padding:14px;margin:0 0 12px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card>:first-child{margin-top:0}.card>:last-child{margin-bottom:0}
.title{font-weight:700;margin:0 0 4px}
.meta,.muted,.key,.help{color:#555}
.key{display:block;font-size:14px;font-weight:400;word-break:break-all}
label{display:block;margin:10px 0 0;font-size:16px;color:#333}
input,select{display:block;width:100%;font-size:18px;min-height:48px;padding:8px 10px;
margin-top:4px;border:1px solid #999;border-radius:8px;background:#fff}
button,.button{display:block;width:100%;min-height:52px;margin:12px 0 0;font-size:19px;
border-radius:10px;border:0;text-align:center;text-decoration:none;line-height:52px;padding:0 10px;
background:#e0e0e0;color:#111}
button.primary,.button.primary{background:#b71c1c;color:#fff;font-weight:700}
button.secondary{background:#37474f;color:#fff}
button.danger{background:#fff;color:#b71c1c;border:2px solid #b71c1c}
button.link{background:none;color:inherit;text-decoration:underline;width:auto;min-height:0;
margin:0;line-height:1.5;font-size:16px;padding:0}
form.inline{display:inline}
.flash{padding:12px;border-radius:8px}
.flash.ok{background:#e8f5e9;color:#1b5e20}
.flash.bad{background:#ffebee;color:#b71c1c}
.good{color:#1b5e20}.bad{color:#b71c1c}
.open{background:#fff8e1;padding:10px;border-radius:8px}
.checklist{list-style:none;padding:0;margin:0}
.checklist li{display:flex;align-items:center;gap:10px;background:#fff;border-radius:10px;
padding:12px;margin:0 0 8px;min-height:56px}
.checklist li span:nth-child(2){flex:1}
.checklist .tick{font-size:26px;width:30px;text-align:center}
.checklist li.ticked{background:#e8f5e9}.checklist li.ticked .tick{color:#1b5e20}
.progress,.alarm{font-weight:700}
.figure{display:flex;justify-content:space-between;align-items:baseline;font-size:22px;margin:0}
.big .figure{font-size:30px}
.v-good .verdict{color:#1b5e20}.v-poor .verdict{color:#b71c1c}.v-unknown .verdict{color:#555}
.v-poor{border-left:6px solid #b71c1c}
.advice{margin:6px 0 0;color:#333}
details summary{min-height:48px;line-height:48px;color:#0d47a1;cursor:pointer}
ul.alerts{padding-left:20px;margin:0}
ul.devices{list-style:none;padding:0;margin:8px 0 0}
ul.devices li{padding:8px 0;border-top:1px solid #eee}
ul.devices li.bad b{color:#b71c1c}
"""

SCRIPT = """
(function(){
  "use strict";
  document.addEventListener("submit", function(ev){
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });
  function countdowns(){
    document.querySelectorAll("[data-countdown]").forEach(function(el){
      var s = Math.max(0, parseInt(el.getAttribute("data-countdown"), 10) - 1);
      el.setAttribute("data-countdown", s); el.textContent = s;
    });
  }
  setInterval(countdowns, 1000);
  function merge(box, html){
    var tpl = document.createElement("template"); tpl.innerHTML = html;
    var fresh = Array.prototype.slice.call(tpl.content.children);
    var keep = {};
    fresh.forEach(function(el, i){
      if (!el.id) { return; }
      keep[el.id] = true;
      var old = document.getElementById(el.id);
      if (old && old.parentNode === box) {
        el.querySelectorAll("[data-live]").forEach(function(part){
          var name = part.getAttribute("data-live");
          var target = old.querySelector('[data-live="' + name + '"]');
          if (target) { target.innerHTML = part.innerHTML; }
        });
      } else {
        box.insertBefore(el, box.children[i] || null);
      }
    });
    Array.prototype.slice.call(box.children).forEach(function(el){
      if (el.id && !keep[el.id]) { box.removeChild(el); }
      if (!el.id && el.tagName !== "DATALIST") { box.removeChild(el); }
    });
    if (!box.querySelector("datalist")) {
      var dl = tpl.content.querySelector("datalist"); if (dl) { box.appendChild(dl); }
    }
  }
  var url = document.body.getAttribute("data-live");
  if (!url || !window.EventSource) { return; }
  var lost = document.getElementById("lost");
  var source = new EventSource(url);
  source.addEventListener("fragments", function(ev){
    lost.hidden = true;
    var parts = JSON.parse(ev.data);
    Object.keys(parts).forEach(function(id){
      var box = document.getElementById(id);
      if (!box) { return; }
      if (box.hasAttribute("data-merge")) { merge(box, parts[id]); }
      else { box.innerHTML = parts[id]; }
    });
  });
  source.addEventListener("reload", function(){ window.location.reload(); });
  source.onerror = function(){
    lost.textContent = document.body.getAttribute("data-lost"); lost.hidden = false;
  };
})();
"""

__all__ = [
    "KINDS",
    "SCRIPT",
    "STYLE",
    "DeviceView",
    "Measure",
    "Nav",
    "alarm_kind_label",
    "alarm_state_label",
    "candidates_fragment",
    "devices_body",
    "dom_id",
    "e",
    "error_body",
    "family_body",
    "family_fragment",
    "join_fragment",
    "layout",
    "login_body",
    "paired_fragment",
    "survey_body",
    "walk_body",
    "walk_fragment",
]
