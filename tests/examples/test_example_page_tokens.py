"""The examples' page tokens: URL-safe text that decodes back to the exact paging state."""

from __future__ import annotations

import pytest
from example_servers import import_example
from hypothesis import given
from hypothesis import strategies as st

notes = import_example("notes")
URL_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@given(st.binary(min_size=1, max_size=512))
def test_token_round_trips_any_paging_state(paging_state: bytes) -> None:
    token = notes.encode_page_token(paging_state)

    assert set(token) <= URL_SAFE
    assert notes.decode_page_token(token) == paging_state


@pytest.mark.parametrize("token", ["", "a", "a+b/", "abc=", "abc def", "é", "AAAA\n"])
def test_text_that_is_not_unpadded_base64url_is_refused(token: str) -> None:
    with pytest.raises(notes.InvalidPageToken, match="page token"):
        notes.decode_page_token(token)
