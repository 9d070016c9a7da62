"""HTML of the three views. Every value from a ledger, a file or a query parameter is escaped.

The pages are plain server-rendered HTML (no build step, no script needed to read them) shown by Airflow's
UI in its plugin frame; links to runs, task instances and trigger forms target the top window so they
open in Airflow itself. ``links`` knows the URLs; this module only arranges them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from sf1630.lis_view.deliveries import DeliveryRow
from sf1630.lis_view.loads import Cell, Matrix, MatrixRow, build_matrix, chosen_receivers
from sf1630.lis_view.model import Filters, Receipt, State, TaskIndex, TaskRef
from sf1630.lis_view.report import REPORT_FILES, Summary
from sf1630.protocol import Period
from sf1630.receiver.config import Receiver
from sf1630.registry import sender_dag_id

if TYPE_CHECKING:
    from sf1630.database import Database

STYLE = """
body{font-family:system-ui,sans-serif;font-size:13px;margin:12px;color:#1a202c}
h1{font-size:18px;margin:0 0 8px}
form.filters{display:flex;gap:8px;align-items:end;flex-wrap:wrap;margin-bottom:8px}
form.filters label{display:flex;flex-direction:column;font-size:11px;color:#4a5568}
table{border-collapse:collapse}th,td{border:1px solid #e2e8f0;padding:2px 4px;vertical-align:top}
th{background:#f7fafc;position:sticky;top:0}
td.cell{min-width:64px;font-size:11px}
td.loaded{background:#c6f6d5}td.quarantined{background:#feb2b2}td.received{background:#bee3f8}
td.late{background:#fbd38d}td.missing{background:#edf2f7;color:#718096}
td.accepted{background:#c6f6d5}td.rejected{background:#feb2b2}td.withdrawn{background:#fefcbf}td.waiting{background:#bee3f8}
td.not-sent{background:#edf2f7;color:#718096}
.legend span{padding:1px 6px;margin-right:4px}
a{color:#2b6cb0}.act{display:block;font-weight:600}
.small{font-size:11px;color:#4a5568}
"""


@dataclass(frozen=True)
class Links:
    """The URLs the pages link to: Airflow's UI under ``ui``, this app under ``app``."""

    ui: str
    app: str

    def run(self, task: TaskRef) -> str:
        return f"{self.ui}/dags/{quote(task.dag_id)}/runs/{quote(task.run_id, safe='')}"

    def task_instance(self, task: TaskRef) -> str:
        base = f"{self.run(task)}/tasks/{quote(task.task_id)}"
        return f"{base}/mapped/{task.map_index}" if task.map_index >= 0 else base

    def dag(self, dag_id: str) -> str:
        return f"{self.ui}/dags/{quote(dag_id)}"

    def report(self, sftp_user: str, file_transfer_uuid: str) -> str:
        return f"{self.app}/report?" + urlencode({"lis": sftp_user, "uuid": file_transfer_uuid})

    def report_file(self, sftp_user: str, file_transfer_uuid: str, name: str) -> str:
        return f"{self.app}/report/file?" + urlencode(
            {"lis": sftp_user, "uuid": file_transfer_uuid, "name": name}
        )

    def trigger(self, dag_id: str, conf: Mapping[str, object]) -> str:
        """This app's trigger form of ``dag_id`` with ``conf`` filled in."""
        return f"{self.app}/trigger?" + urlencode(
            {"dag_id": dag_id, "conf": json.dumps(conf, separators=(",", ":"))}
        )

    def action(self, action: str, sftp_user: str, sender: str, period: Period, file_name: str = "") -> str:
        """This app's link that opens the trigger form for one cell's action."""
        query = {"do": action, "lis": sftp_user, "sender": sender, "period": str(period)}
        if file_name:
            query["file"] = file_name
        return f"{self.app}/act?" + urlencode(query)

    def page(self, name: str, filters: Filters, **changes: str) -> str:
        query = urlencode(filters.query(**changes))
        return f"{self.app}/{name}" + (f"?{query}" if query else "")


def _a(href: str, text: str, css: str = "", *, top: bool = True) -> str:
    """A link; ``top``: open in Airflow's window rather than in the plugin frame."""
    target = " target='_top'" if top else ""
    return f"<a class='{css}'{target} href='{escape(href)}'>{escape(text)}</a>"


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _options(values: Iterable[tuple[str, str]], chosen: str) -> str:
    return "".join(
        f"<option value='{escape(v)}'{' selected' if v == chosen else ''}>{escape(text)}</option>"
        for v, text in values
    )


def _filters_form(
    action: str, filters: Filters, receivers: Sequence[Receiver], senders: Sequence[str]
) -> str:
    lis = [("", "all LIS systems")] + [
        (r.sftp_user, f"{r.kommune.name} {r.lis.name} ({r.sftp_user})") for r in receivers
    ]
    sender = [("", "all senders")] + [(code, code) for code in senders]
    month = str(filters.months[0]) if len(filters.months) == 1 else ""
    year = str(filters.months[0].year) if len(filters.months) == 12 and filters.months[0].month == 1 else ""
    return (
        f"<form class='filters' method='get' action='{escape(action)}'>"
        f"<label>LIS system<select name='lis'>{_options(lis, filters.lis)}</select></label>"
        f"<label>kommune<input name='kommune' value='{escape(filters.kommune)}'"
        " placeholder='code, CVR or name'></label>"
        f"<label>sender<select name='sender'>{_options(sender, filters.sender)}</select></label>"
        f"<label>month<input name='month' value='{escape(month)}' placeholder='YYYY-MM'></label>"
        f"<label>year<input name='year' value='{escape(year)}' placeholder='YYYY'></label>"
        "<button type='submit'>show</button></form>"
    )


def resend_conf(receiver: Receiver, sender: str, period: Period, *, force: bool) -> dict[str, object]:
    """The sender DAG's params that send one delivery again (``force``: even though it was accepted)."""
    conf: dict[str, object] = {
        "kommune": [receiver.kommune.kode],
        "recipient": [receiver.sftp_user],
        "period": str(period),
    }
    if force:
        conf["force"] = True
    return conf


#: What a cell's action link can ask for: send, re-send with force, reload from the quarantine.
ACTIONS = ("send", "resend", "reload")


def action_target(
    receiver: Receiver, action: str, sender: str, period: Period, file_name: str, reload_dag: str
) -> tuple[str, dict[str, object]]:
    """The DAG and params that carry out ``action`` for one cell (ValueError for an unknown action)."""
    if action == "reload":
        return reload_dag, {"lis": receiver.sftp_user, "file_name": file_name}
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return sender_dag_id(sender), resend_conf(receiver, sender, period, force=action == "resend")


@dataclass(frozen=True)
class _RowLinks:
    """What every cell of one matrix row shares, escaped and URL-quoted once per row, not once per cell
    (a year of the country is 6,000 cells; quoting per cell was most of the page's time)."""

    act: str  # ".../act?lis=…&sender=…" (HTML-escaped)
    report: str  # ".../report?lis=…&uuid=" (HTML-escaped)
    data: str  # the cell's data attributes without the period
    receiver_dag: str

    @classmethod
    def of(cls, links: Links, row: MatrixRow) -> _RowLinks:
        user = row.receiver.sftp_user
        who = urlencode({"lis": user, "sender": row.sender})
        return cls(
            act=escape(f"{links.app}/act?{who}"),
            report=escape(f"{links.app}/report?{urlencode({'lis': user})}&uuid="),
            data=f" data-lis='{escape(user)}' data-sender='{escape(row.sender)}'",
            receiver_dag=escape(links.dag(row.receiver.dag_id)),
        )


def _actions(shared: _RowLinks, cell: Cell, month: str) -> str:
    """The action that puts the cell right: a short link that opens the trigger form with params filled in
    (the long form URL is built by the app's ``/act``, which keeps a year's matrix small)."""

    def act(action: str, text: str, extra: str = "") -> str:
        href = f"{shared.act}&amp;do={action}&amp;period={month}{extra}"
        return f"<a class='act {action}' target='_top' href='{href}'>{text}</a>"

    if cell.state is State.QUARANTINED:
        file = escape("&file=" + quote(cell.file_name, safe=""))
        return act("resend", "re-send (force)") + act("reload", "reload", file)
    if cell.state is State.LOADED:
        return act("resend", "re-send (force)")
    if cell.state is State.RECEIVED:
        return f"<a class='act' target='_top' href='{shared.receiver_dag}'>receiver DAG</a>"
    return act("send", "send")


def _cell_html(links: Links, shared: _RowLinks, cell: Cell) -> str:
    parts = [f"<b>{cell.state.value}</b>"]
    if cell.state is State.LOADED:
        parts.append(f"<br>{cell.rows} rows<br><span class='small'>{escape(cell.when[:16])}</span>")
        if cell.earlier:
            parts.append(f"<br><span class='small'>replaced {cell.earlier}</span>")
    elif cell.state is State.QUARANTINED:
        parts.append(f"<br><span class='small reason'>{escape(cell.reason[:80])}</span>")
    if cell.task is not None:
        run = escape(links.run(cell.task))
        task = cell.task
        ti = f"{run}/tasks/{task.task_id}" + (f"/mapped/{task.map_index}" if task.map_index >= 0 else "")
        parts.append(
            f"<br><a class='run' target='_top' href='{run}'>run</a>"
            f" · <a class='ti' target='_top' href='{ti}'>task</a>"
        )
    if cell.file_transfer_uuid:
        href = shared.report + escape(quote(cell.file_transfer_uuid, safe=""))
        parts.append(f"<br><a class='report' href='{href}'>report</a>")
    month = str(cell.period)  # once per cell: a year of the country is 6,000 cells
    parts.append(_actions(shared, cell, month))
    return f"<td class='cell {cell.state.value}'{shared.data} data-period='{month}'>{''.join(parts)}</td>"


def loads_page(
    matrix: Matrix,
    links: Links,
    receivers: Sequence[Receiver],
    senders: Sequence[str],
) -> str:
    """The Loads matrix page."""
    head = "".join(f"<th>{p}</th>" for p in matrix.months)
    body: list[str] = []
    for row in matrix.rows:
        r = row.receiver
        body.append(
            f"<tr><th class='who'>{escape(r.kommune.name)} <span class='small'>{r.kommune.kode}</span><br>"
            f"{escape(r.lis.name)} <span class='small'>{escape(r.sftp_user)}</span></th>"
            f"<th>{escape(row.sender)}</th>"
        )
        shared = _RowLinks.of(links, row)
        body.extend(_cell_html(links, shared, cell) for cell in row.cells)
        body.append("</tr>")
    legend = "".join(
        f"<span class='{s.value}' style='background:inherit'>{s.value}: {matrix.counts.get(s, 0)}</span>"
        for s in State
    )
    if not matrix.rows:
        note = "No LIS system to show: none matches the filters, or you may not read its receiver DAG."
    elif not any(matrix.counts.get(s) for s in (State.LOADED, State.QUARANTINED, State.RECEIVED)):
        note = "Nothing has been loaded yet for these LIS systems and months."
    else:
        note = ""
    html_body = (
        f"<h1>SF1630 loads</h1>{_filters_form(links.app + '/loads', matrix.filters, receivers, senders)}"
        f"<p class='legend'>{legend} · "
        f"{_a(links.page('deliveries', matrix.filters), 'deliveries', 'nav', top=False)}</p>"
        + (f"<p id='note'>{escape(note)}</p>" if note else "")
        + f"<table id='loads'><thead><tr><th>kommune / LIS system</th><th>sender</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return _page("SF1630 loads", html_body)


def deliveries_page(
    rows: Sequence[DeliveryRow],
    filters: Filters,
    links: Links,
    receivers: Sequence[Receiver],
    senders: Sequence[str],
) -> str:
    """The Deliveries table page."""
    body: list[str] = []
    counts: dict[Receipt, int] = dict.fromkeys(Receipt, 0)
    for row in rows:
        counts[row.receipt] += 1
        errors = "<br>".join(
            f"<span class='error'>{e.code} {escape(e.code_description)}: {escape(e.description)}</span>"
            for e in row.errors
        )
        task = (
            f"<a class='ti' target='_top' href='{escape(links.task_instance(row.task))}'>task</a>"
            if row.task
            else ""
        )
        superseded = (
            f"<br><span class='small'>supersedes {escape(', '.join(row.superseded))}</span>"
            if row.superseded
            else ""
        )
        css = row.receipt.value.replace(" ", "-")
        body.append(
            f"<tr><td>{escape(row.sender)}</td>"
            f"<td>{escape(row.kommune.name)} <span class='small'>{row.kommune.kode}</span></td>"
            f"<td>{escape(row.lis.name)} <span class='small'>{escape(row.lis.key)}</span></td>"
            f"<td>{row.period}</td>"
            f"<td class='{css}'><b>{row.receipt.value}</b>{'<br>' + errors if errors else ''}</td>"
            f"<td>{escape(row.file_name)}{superseded}</td><td>{escape(row.recorded_at)}</td><td>{task}</td></tr>"
        )
    legend = " · ".join(f"{r.value}: {counts[r]}" for r in Receipt)
    html_body = (
        f"<h1>SF1630 deliveries</h1>{_filters_form(links.app + '/deliveries', filters, receivers, senders)}"
        f"<p class='legend'>{legend} · <a href='{escape(links.page('loads', filters))}'>loads</a></p>"
        "<table id='deliveries'><thead><tr><th>sender</th><th>kommune</th><th>LIS system</th><th>month</th>"
        "<th>receipt</th><th>file</th><th>recorded</th><th></th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return _page("SF1630 deliveries", html_body)


def report_page(
    title: str,
    facts: Sequence[tuple[str, str]],
    summary: Summary | None,
    files: Sequence[str],
    links: Links,
    sftp_user: str,
    uuid: str,
) -> str:
    """A delivery's validation report: the ledger's facts, the failed expectations, the Data Docs page."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    parts = [f"<h1>{escape(title)}</h1><table id='facts'>{rows}</table>"]
    if summary is not None:
        verdict = {True: "passed", False: "FAILED", None: "?"}[summary.success]
        parts.append(
            f"<p id='verdict'>validation {verdict}: {summary.evaluated} expectations,"
            f" {len(summary.failed)} failed</p>"
        )
        if summary.failed:
            items = "".join(
                f"<tr><td>{escape(f.expectation)}</td><td>{escape(f.column)}</td>"
                f"<td>{f.unexpected if f.unexpected >= 0 else '?'}</td><td>{escape(f.detail[:300])}</td></tr>"
                for f in summary.failed
            )
            parts.append(
                "<table id='failed'><tr><th>expectation</th><th>column</th><th>unexpected</th>"
                "<th>detail</th></tr>"
                f"{items}</table>"
            )
    if not files:
        parts.append("<p id='no-report'>No report files for this delivery.</p>")
    listed = " · ".join(
        f"<a class='file' href='{escape(links.report_file(sftp_user, uuid, name))}'>{escape(name)}</a>"
        for name in REPORT_FILES
        if name in files
    )
    parts.append(f"<p>{listed}</p>")
    html_doc = next((n for n in REPORT_FILES if n.endswith(".html") and n in files), None)
    if html_doc is not None:
        parts.append(
            f"<iframe id='datadocs' sandbox='' style='width:100%;height:70vh;border:1px solid #e2e8f0'"
            f" src='{escape(links.report_file(sftp_user, uuid, html_doc))}'></iframe>"
        )
    return _page(title, "".join(parts))


def message_page(title: str, text: str) -> str:
    """A page that says one thing (nothing found, a bad parameter)."""
    return _page(title, f"<h1>{escape(title)}</h1><p id='message'>{escape(text)}</p>")


def trigger_page(
    dag_id: str, conf: Mapping[str, object], params: Mapping[str, object], links: Links, api: str
) -> str:
    """The trigger form of ``dag_id``: its params, filled from ``conf``; submitting creates the run through
    Airflow's own REST API as the logged-in user (so Airflow decides whether the user may trigger it)."""
    fields = []
    # The DAG's params in its order, then anything the link carries that the DAG does not declare (shown,
    # so nothing is sent that the form does not show; Airflow validates the run's conf against the params).
    specs: dict[str, object] = {**params, **{k: {} for k in conf if k not in params}}
    for name, spec in specs.items():
        value = conf.get(name, spec.get("value") if isinstance(spec, dict) else None)
        schema = spec.get("schema", {}) if isinstance(spec, dict) else {}
        kind = schema.get("type") if isinstance(schema, dict) else None
        description = spec.get("description") if isinstance(spec, dict) else ""
        fields.append(
            f"<label>{escape(name)} <span class='small'>{escape(str(description or ''))}</span><br>"
            f"<input class='param' name='{escape(name)}' data-type='{escape(json.dumps(kind))}'"
            f" value='{escape(json.dumps(value, ensure_ascii=False))}' size='60'></label><br>"
        )
    script = f"""
<script>
document.getElementById('trigger').addEventListener('submit', async (event) => {{
  event.preventDefault();
  const conf = {{}};
  for (const input of document.querySelectorAll('input.param')) {{
    conf[input.name] = JSON.parse(input.value);
  }}
  const url = {json.dumps(api)} + '/dags/' + encodeURIComponent({json.dumps(dag_id)}) + '/dagRuns';
  const response = await fetch(url, {{
    method: 'POST', credentials: 'same-origin', headers: {{'Content-Type': 'application/json'}},
    body: JSON.stringify({{logical_date: null, conf: conf}})}});
  const body = await response.json();
  const out = document.getElementById('result');
  if (!response.ok) {{ out.textContent = 'Airflow refused: ' + JSON.stringify(body.detail || body); return; }}
  out.textContent = 'triggered ' + body.dag_run_id;
  const run = '/dags/' + encodeURIComponent(body.dag_id) + '/runs/' + encodeURIComponent(body.dag_run_id);
  window.top.location.href = {json.dumps(links.ui)} + run;
}});
</script>"""
    body = (
        f"<h1>Trigger {escape(dag_id)}</h1><p class='small'>Params as JSON values; "
        f"<a target='_top' href='{escape(links.dag(dag_id))}'>the DAG in Airflow</a></p>"
        f"<form id='trigger'>{''.join(fields)}<button type='submit' id='go'>Trigger</button></form>"
        f"<p id='result'></p>{script}"
    )
    return _page(f"Trigger {dag_id}", body)


def loads_html(
    receivers: Sequence[Receiver],
    filters: Filters,
    warehouses: Sequence[tuple[str, str, Database]],
    sender_ledgers: Sequence[tuple[str, Database]],
    tasks: TaskIndex,
    links: Links,
    senders: Sequence[str],
    now: datetime,
) -> str:
    """The whole Loads page: ledgers read, matrix built, HTML rendered (what the app answers and what
    ``bench/bench_ui.py`` times). ``warehouses`` holds (LIS SFTP user, kommune CVR, warehouse) of the
    receivers the filters choose."""
    from sf1630.sender.ledger import read_sent_rows
    from sf1630.warehouse.ledger import read_first_periods, read_load_rows

    chosen = chosen_receivers(receivers, filters)
    load_rows = read_load_rows(warehouses, filters.months)
    sent_rows = read_sent_rows(sender_ledgers, filters.months)
    # When each LIS system started matters only for those with nothing in the first month shown (a year of
    # the whole country needs no query for it).
    shown_first = min(filters.months) if filters.months else None
    settled = {r.sftp_user for r in load_rows if r.period == shown_first}
    starts = read_first_periods([t for t in warehouses if t[0] not in settled])
    matrix = build_matrix(chosen, filters, load_rows, sent_rows, tasks, now, starts)
    return loads_page(matrix, links, receivers, senders)
