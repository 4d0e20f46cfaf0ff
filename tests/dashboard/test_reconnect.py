"""The page across a gateway restart: a visible reconnecting state, then everything missed, once.

A run's output is one ``ExecutionOutput`` event per batch of lines, and each line is its own
frame, all with the event's ``event_seq``: the tests append such a batch straight to the stream
(as the workspace service does) so that the number of frames sharing one sequence is certain.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from orchestrator.events import subjects
from orchestrator.events.catalog import ExecutionOutput
from tests.dashboard.conftest import Dashboard, append_events, write_files


def output_batch(execution_id: str, lines: list[str]) -> tuple[str, ExecutionOutput]:
    batch = ExecutionOutput(execution_id=execution_id, first_line=0, lines=tuple(lines))
    return subjects.execution(execution_id), batch


def shown_once(page: Page, lines: list[str], seq: int) -> None:
    """Each of ``lines`` is one activity line (of the event at ``seq``), no more, no less."""
    for line in lines:
        expect(page.locator("#activity li", has_text=line)).to_have_count(1)
    for line in lines:  # all shown: nothing replayed may follow and repeat one
        shown = page.locator("#activity li", has_text=line)
        assert shown.count() == 1, f"{line!r} shown {shown.count()} times"
        assert shown.get_attribute("data-seq") == str(seq)


def test_the_page_shows_reconnecting_then_catches_up_without_duplicates(
    dashboard: Dashboard,
) -> None:
    system = dashboard.system
    page = dashboard.open("#/")
    page.evaluate("window.sameDocument = true")
    log = page.locator("#activity li")
    gateway = next(p for p in system.processes if p.service == "gateway")
    batch = [f"printed while down {i}" for i in range(3)]

    with dashboard.guard.gateway_down():
        gateway.stop()
        expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#banner")).to_be_visible()
        expect(page.locator("#banner")).to_contain_text("Reconnecting")
        expect(page.locator("#submit-form")).to_be_visible()  # the page stays as it was
        dashboard.screenshot("reconnecting")
        # Events that happen while the gateway is away.
        missed = write_files(
            system, {"notes/while-down-1.txt": b"one\n", "notes/while-down-2.txt": b"two\n"}
        )
        [batch_seq] = append_events(system, [output_batch("exec_00000000down0000", batch)])
        gateway.start()
        # ... and while it starts again, before the page is back.
        missed += write_files(system, {"notes/while-starting.txt": b"three\n"})
        system.wait_ready({"gateway": gateway})
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    for seq in missed:
        expect(page.locator(f'#activity li[data-seq="{seq}"]')).to_have_count(1)
    shown_once(page, batch, batch_seq)
    expect(page.locator("#banner")).to_be_hidden()
    seqs = [int(s) for s in log.evaluate_all("lines => lines.map(l => l.dataset.seq)")]
    workspace_lines = [
        int(li.get_attribute("data-seq") or 0)
        for li in page.locator("#activity li.activity-workspace_update").all()
    ]
    assert len(workspace_lines) == len(set(workspace_lines)), "a line was shown twice"
    assert sorted(seqs, reverse=True) == seqs, "lines out of order"
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    dashboard.screenshot("reconnected")
    dashboard.guard.check()


class CutBetweenFrames:
    """Relays the page's first ``/ws`` connection until the second frame of ``execution_id``'s
    output: that frame is not delivered and the connection drops, as when the gateway goes away
    between two frames of one event. Later connections are relayed untouched."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.urls: list[str] = []
        self.delivered: list[str] = []
        self.cut = False

    def __call__(self, route: Any) -> None:
        self.urls.append(route.url)
        server = route.connect_to_server()
        if len(self.urls) > 1:
            return

        def relay(message: str | bytes) -> None:
            if self.cut:
                return
            frame = json.loads(message)
            if frame.get("execution_id") == self.execution_id:
                if self.delivered:
                    self.cut = True
                    route.close(code=1001, reason="gone between two frames")
                    server.close()
                    return
                self.delivered.append(frame["output"])
            route.send(message)

        server.on_message(relay)


def test_a_drop_between_two_frames_of_one_event_loses_none_and_repeats_none(
    dashboard: Dashboard,
) -> None:
    execution_id = "exec_0000000000cut000"
    cutter = CutBetweenFrames(execution_id)
    page = dashboard.page
    page.route_web_socket(lambda url: urlsplit(url).path == "/ws", cutter)
    dashboard.open("#/")
    page.evaluate("window.sameDocument = true")
    batch = [f"one batch, line {i}" for i in range(4)]

    [seq] = append_events(dashboard.system, [output_batch(execution_id, batch)])

    shown_once(page, batch, seq)
    assert cutter.cut and cutter.delivered == batch[:1]  # the drop fell inside the event
    assert len(cutter.urls) == 2, cutter.urls
    resumed_from = int(parse_qs(urlsplit(cutter.urls[1]).query)["since"][0])
    assert resumed_from < seq  # the event it had seen only part of is asked for again
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    dashboard.guard.check()
