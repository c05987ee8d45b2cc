"""Paging styles: each makes the next request from the answers so far, ends on its last page,
resumes from its checkpoint position, and stops a listing that repeats a page."""

from __future__ import annotations

import typing

import pytest

from isobridge.adapters.rest.profile import PagingSpec
from isobridge.core.http import MalformedResponse
from isobridge.core.paging import (
    AfterCursorPaging, Answer, NextLinkPaging, OffsetPaging, PageGuard, PageNumberPaging, Paging, RepeatedPage,
    SinglePage, StartEndPaging, paging_for,
)

RECORDS = [{"id": f"{n:03d}"} for n in range(11)]


def guard(max_pages: int = 1000) -> PageGuard:
    return PageGuard("test listing", max_pages)


def collect(paging: Paging, fetch) -> tuple[list[dict], list[dict]]:
    """(records read, parameters sent) over the whole listing."""
    sent: list[dict] = []

    def send(at: Paging) -> Answer:
        sent.append(at.params())
        return fetch(at)

    return [item for answer in paging.walk(send) for item in answer.items], sent


def test_page_numbers_count_from_the_first_page_and_a_short_page_is_the_last() -> None:
    def server(at):
        page = at.params()["p"] - 1
        return Answer(RECORDS[page * 4:(page + 1) * 4])

    got, sent = collect(PageNumberPaging(guard(), 4, first_page=1, page_param="p", size_param="n"), server)
    assert got == RECORDS
    assert sent == [{"p": 1, "n": 4}, {"p": 2, "n": 4}, {"p": 3, "n": 4}]


def test_a_total_ends_the_listing_without_asking_for_an_empty_page() -> None:
    def server(at):
        offset = at.params()["offset"]
        return Answer(RECORDS[offset:offset + 4] or [], total=8)

    got, sent = collect(OffsetPaging(guard(), 4), server)
    assert got == RECORDS[:8] and [p["offset"] for p in sent] == [0, 4]


def test_the_servers_last_flag_wins_over_the_page_length() -> None:
    def server(at):
        page = at.params()["page"]
        return Answer(RECORDS[page * 2:(page + 1) * 2], last=page == 1)

    got, sent = collect(PageNumberPaging(guard(), 2), server)
    assert got == RECORDS[:4] and len(sent) == 2


def test_start_end_rereads_the_overlap_and_resumes_at_its_offset() -> None:
    def server(at):
        params = at.params()
        return Answer(RECORDS[params["start"]:params["end"]], total=len(RECORDS))

    paging = StartEndPaging(guard(), 4, 4, overlap=2)
    _, sent = collect(paging, server)
    assert sent == [{"start": 2, "end": 8}, {"start": 6, "end": 12}]
    assert paging.done and paging.offset == 12


def test_next_links_are_followed_on_the_same_server_only() -> None:
    links = {None: ("/api/list?cursor=b", RECORDS[:3]), "https://h.example/api/list?cursor=b": (None, RECORDS[3:5])}

    def server(at):
        link, items = links[at.url]
        return Answer(items, next=link)

    paging = NextLinkPaging(guard(), "https://h.example/api/", {"start": 0, "end": 3})
    got, sent = collect(paging, server)
    assert got == RECORDS[:5] and sent == [{"start": 0, "end": 3}, {}]
    elsewhere = NextLinkPaging(guard(), "https://h.example/api/")
    with pytest.raises(MalformedResponse, match="another server"):
        collect(elsewhere, lambda at: Answer(RECORDS[:1], next="https://evil.example/steal"))


def test_after_cursor_sends_the_last_key_and_ends_on_a_short_page() -> None:
    def server(at):
        after = at.params().get("after", "")
        rest = [r for r in RECORDS if r["id"] > after]
        return Answer(rest[:at.params()["limit"]])

    paging = AfterCursorPaging(guard(), 5, "002")
    got, sent = collect(paging, server)
    assert got == RECORDS[3:]
    assert sent == [{"limit": 5, "after": "002"}, {"limit": 5, "after": "007"}]
    assert paging.after == "010"


def test_after_cursor_reads_an_endpoint_ignoring_both_parameters_once() -> None:
    got, sent = collect(AfterCursorPaging(guard(), 4), lambda at: Answer(list(RECORDS)))
    assert got == RECORDS and len(sent) == 2  # the second answer ends at the key asked after: read already


def test_a_single_page_ends_whatever_the_answer_says() -> None:
    got, sent = collect(SinglePage(guard()), lambda at: Answer(RECORDS[:2], last=False))
    assert got == RECORDS[:2] and sent == [{}]


@pytest.mark.parametrize("paging", [
    PageNumberPaging(guard(), 2), OffsetPaging(guard(), 2), StartEndPaging(guard(), 2),
    NextLinkPaging(guard(), "https://h.example/"), AfterCursorPaging(guard(), 2),
], ids=lambda p: type(p).__name__)
def test_every_style_stops_a_server_that_ignores_its_parameters(paging: Paging) -> None:
    with pytest.raises(RepeatedPage, match="page 2 repeats page 1"):
        collect(paging, lambda at: Answer(RECORDS[:2], next="/again"))


def test_every_style_stops_past_max_pages() -> None:
    with pytest.raises(RepeatedPage, match="more than 3 pages"):
        collect(OffsetPaging(guard(3), 1), lambda at: Answer([{"id": at.params()["offset"]}]))


@pytest.mark.parametrize("style", typing.get_args(PagingSpec.model_fields["style"].annotation))
def test_the_rest_profile_style_picks_its_class_and_resumes_after_pages_read(style: str) -> None:
    spec = PagingSpec(style=style, size=10)
    paging = paging_for(spec, guard(), page=3, base_url="https://h.example/")
    expected = {"page": ({"page": 3, "size": 10}, PageNumberPaging), "offset": ({"offset": 30, "limit": 10}, OffsetPaging),
                "start_end": ({"start": 30, "end": 40}, StartEndPaging),
                "next_link": ({"start": 30, "end": 40}, NextLinkPaging), "none": ({}, SinglePage)}[style]
    assert (paging.params(), type(paging)) == expected
