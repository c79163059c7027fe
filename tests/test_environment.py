"""What changed in the environment between a baseline and a run (pure), and where a reply's
served model and fingerprint are read."""

from __future__ import annotations

import msgspec

from pytest_tokenbudget.environment import SDKS, Environment, changes, sdk_versions
from pytest_tokenbudget.providers import openai as oai
from pytest_tokenbudget.tracker import TokenTracker, tracker_payload

OLD = Environment(
    {"gpt-4o-2024-05-13": ["fp_1"], "claude-x": []}, {"openai": "1.2.0"}, "2026-10-01"
)


def test_every_change_is_named_once_and_in_a_fixed_order() -> None:
    new = Environment(
        {"gpt-4o-2024-08-06": ["fp_2"], "claude-x": []},
        {"openai": "3.0.1", "anthropic": "2.0.0"},
        "2026-11-30",
    )
    assert changes(OLD, new) == [
        "served gpt-4o-2024-05-13 -> gpt-4o-2024-08-06",
        "anthropic not installed -> 2.0.0",
        "openai 1.2.0 -> 3.0.1",
        "price table 2026-10-01 -> 2026-11-30",
    ]
    assert changes(OLD, OLD) == []


def test_a_new_fingerprint_of_the_same_model_is_named_and_a_side_that_states_nothing_is_not() -> (
    None
):
    same = Environment(
        {"gpt-4o-2024-05-13": ["fp_1", "fp_7"], "claude-x": []}, OLD.sdks, OLD.price_table
    )
    assert changes(OLD, same) == ["system_fingerprint fp_1 -> fp_1, fp_7 (gpt-4o-2024-05-13)"]
    assert changes(Environment(), OLD) == []  # an empty side (no calls, nothing installed)
    assert changes(OLD, Environment()) == []


def test_names_from_replies_stay_on_one_line() -> None:
    new = Environment({"m\n::error::x": []}, {}, None)
    (line,) = changes(Environment({"a": []}), new)
    assert "\n" not in line
    assert line.startswith("served a -> m")


def test_installed_versions_come_from_metadata_and_the_record_round_trips() -> None:
    versions = sdk_versions()
    assert set(versions) <= set(SDKS)
    assert "openai" in versions  # installed in the test environment
    encoded = msgspec.json.encode(OLD)
    assert msgspec.json.decode(encoded, type=Environment) == OLD
    assert msgspec.json.encode(Environment()) == b"{}"  # nothing stated: nothing written


def test_a_replys_fingerprint_is_kept_with_its_served_model_and_a_refusal_serves_nothing() -> None:
    reply = {
        "id": "c1",
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_2",
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    found = oai.read(reply)
    assert found is not None
    assert found.fingerprint == "fp_2"
    tracker = TokenTracker("t")
    tracker.add_extracted(found)
    tracker.add_extracted(oai.read({**reply, "id": "c2", "system_fingerprint": None}))  # type: ignore[arg-type]
    tracker.refuse("gpt-5")
    assert tracker_payload(tracker)["served"] == {"gpt-4o-2024-08-06": ["fp_2"]}
    assert "served" not in tracker_payload(TokenTracker("quiet"))
