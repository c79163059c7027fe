"""Spend protection counts the requests in flight: concurrent calls cannot race past a limit.

The fake holds each reply until as many requests as the test expects are in flight at once
(``Reply.hold``), so the requests are really concurrent; its log is the judge. Every request
declares ``max_tokens=100`` and says "hi" to gpt-4o-mini: 8 input tokens (counted locally,
as OpenAI bills them) + at most 100 output tokens, and the fake bills exactly that, 108.
"""

from __future__ import annotations

import pytest

from fakellm import FakeLLM
from runs import DIST, run_report

pytest.importorskip("openai")

#: One request's bill: 8 input tokens ("hi" as one user message) + its 100 declared output.
BILL = 108

INNER = """
import asyncio, json, os, threading
import openai
import pytest

URL = os.environ["TOKENBUDGET_FAKE_LLM"]
ASK = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=100)

def reply(hold, key):
    return {"x-fake-reply": json.dumps(
        {"input_tokens": 8, "output_tokens": 100, "hold": hold, "hold_key": key})}

async def gathered(n, hold, key):
    async with openai.AsyncOpenAI(base_url=URL + "/v1", api_key="k") as client:
        await asyncio.gather(
            *(client.chat.completions.create(**ASK, extra_headers=reply(hold, key))
              for _ in range(n)),
            return_exceptions=True,
        )

def threads(n, hold, key):
    client = openai.OpenAI(base_url=URL + "/v1", api_key="k")
    def one():
        try:
            client.chat.completions.create(**ASK, extra_headers=reply(hold, key))
        except BaseException:
            pass
    started = [threading.Thread(target=one) for _ in range(n)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    client.close()
"""

CASES = """
def limit(**limits):
    return pytest.mark.token_budget(**limits)

@pytest.mark.parametrize("how, n, hold", [
    pytest.param(gathered, 20, 3, id="gather_calls", marks=limit(max_calls=3)),
    pytest.param(threads, 8, 3, id="threads_calls", marks=limit(max_calls=3)),
    pytest.param(gathered, 20, 5, id="gather_tokens", marks=limit(max_tokens=500)),
    pytest.param(threads, 8, 5, id="threads_tokens", marks=limit(max_tokens=500)),
])
def test_case(request, how, n, hold):
    ran = how(n, hold, request.node.callspec.id)
    if ran is not None:
        asyncio.run(ran)
"""


@pytest.mark.parametrize("dist", DIST)
def test_concurrent_requests_do_not_race_past_a_test_limit(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inflight=INNER + CASES)
    result, report = run_report(pytester, "--tokenbudget-enforce", *dist)
    result.assert_outcomes(failed=4)  # each had requests refused
    served: dict[str, int] = {}
    for s in fake_llm.counted():
        served[s.hold_key] = served.get(s.hold_key, 0) + 1
    # max_calls=3: exactly 3 sent of 20 (of 8), all 3 in flight at once
    assert served["gather_calls"] == served["threads_calls"] == 3
    # max_tokens=500: 5 in flight reserve 5 x 108 = 540 >= 500, then nothing more is sent
    assert served["gather_tokens"] == served["threads_tokens"] == 5
    tests = report["tests"]
    for name, sent, tried in (
        ("gather_calls", 3, 20),
        ("threads_calls", 3, 8),
        ("gather_tokens", 5, 20),
        ("threads_tokens", 5, 8),
    ):
        test = tests[f"test_inflight.py::test_case[{name}]"]
        assert (test["calls"], test["refused_calls"]) == (sent, tried - sent)
        assert test["total_tokens"] == sent * BILL
        if name.endswith("tokens"):
            assert 500 <= test["total_tokens"] <= 500 + BILL  # passed by at most one request


RUN = """
@pytest.mark.parametrize("i", range(4))
def test_agent(i):
    asyncio.run(gathered(15, None, "run"))
"""


@pytest.mark.parametrize("dist", DIST)
def test_a_run_budget_holds_against_concurrent_requests(
    pytester: pytest.Pytester, fake_llm: FakeLLM, dist: list[str]
) -> None:
    pytester.makepyfile(test_inflight=INNER + RUN)
    result, report = run_report(
        pytester, "--tokenbudget-enforce", "--tokenbudget-max-tokens=1000", *dist
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    billed = fake_llm.totals()["total_tokens"]
    assert report["totals"]["total_tokens"] == billed
    # reached, and passed by at most one request (plus one in flight per other xdist worker)
    workers = 2 if dist else 1
    assert 1000 <= billed <= 1000 + workers * BILL
    print(f"run budget 1,000: billed {billed} in {billed // BILL} requests")


NO_BILL = """
@pytest.mark.token_budget(max_calls=3)
def test_errors_then_two_calls():
    with openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**ASK, extra_headers={
                "x-fake-reply": json.dumps({"status": 500})})
    with openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0) as down:
        with pytest.raises(Exception):  # APIConnectionError (or the transport's own error)
            down.chat.completions.create(**ASK)
    with openai.OpenAI(base_url=URL + "/v1", api_key="k", max_retries=0) as client:
        with client.chat.completions.create(**ASK, stream=True) as stream:
            pass  # closed unread: no usage arrived
        client.chat.completions.create(**ASK)
        client.chat.completions.create(**ASK)
"""


def test_a_request_that_ends_without_a_bill_gives_its_reservation_back(
    pytester: pytest.Pytester, fake_llm: FakeLLM
) -> None:
    """An error reply, a transport error, a stream closed early: none holds its reservation.
    The stream was sent all the same: it is a call that could not be counted, and max_calls
    counts it (3 = the stream and the two calls after it)."""
    pytester.makepyfile(test_inflight=INNER + NO_BILL)
    result, report = run_report(pytester, "--tokenbudget-enforce")
    result.assert_outcomes(passed=1)
    assert len(fake_llm.counted()) == 2
    test = report["tests"]["test_inflight.py::test_errors_then_two_calls"]
    assert (test["calls"], test["uncounted_calls"]) == (2, 1)
