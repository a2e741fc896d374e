"""Conversation metrics (callqa.scoring.metrics): exact values on hand-made transcripts."""

from __future__ import annotations

import pytest

from callqa.scoring.metrics import ConversationMetrics, conversation_metrics
from callqa.transcript import Interval, Transcript, Utterance


def call(agent, customer, duration=20.0, roles="channels", speakers=("agent", "customer")):
    """A transcript with the given speech intervals (and one utterance per interval)."""
    utts = [Utterance("agent", a, b, "x") for a, b in agent]
    utts += [Utterance("customer", a, b, "y") for a, b in customer] if "customer" in speakers \
        else []
    speech = {"agent": [Interval(a, b) for a, b in agent]}
    if "customer" in speakers:
        speech["customer"] = [Interval(a, b) for a, b in customer]
    return Transcript("c", "A1", duration, utts, speech=speech, speakers=speakers, roles=roles)


def test_two_party_call_exact_values():
    # agent 1-5, customer 6-9 (gap 1.0), agent 9.5-12 (response 0.5), customer 11-14 (overtalk
    # 1.0, the agent has the floor: no response counted at 12), agent 16-18 (response 2.0);
    # nobody speaks 0-1, 5-6, 9-9.5, 14-16, 18-20 (6.5 s).
    m = conversation_metrics(call([(1, 5), (9.5, 12), (16, 18)], [(6, 9), (11, 14)]))
    assert m == ConversationMetrics(
        duration_s=20.0, agent_talk_rate=0.425, customer_talk_rate=0.3, non_talk_rate=0.325,
        overtalk_rate=0.05, longest_silence_s=2.0, mean_response_s=1.25, responses=2)


def test_agent_talking_through_the_customers_end_is_not_a_response():
    # The agent starts at 3 while the customer speaks (2-4) and goes on to 6: no turn change
    # with a gap; the customer's second turn (7-8) is answered at 8.25.
    m = conversation_metrics(call([(0, 1), (3, 6), (8.25, 9)], [(2, 4), (7, 8)], duration=10))
    assert (m.responses, m.mean_response_s) == (1, 0.25)
    assert m.overtalk_rate == 0.1 and m.longest_silence_s == 1.0


def test_customer_speaking_again_before_the_agent_is_one_turn():
    # The customer pauses (3-4) and goes on; only the end of the second stretch is answered.
    m = conversation_metrics(call([(0, 2), (6, 8)], [(2.5, 3), (4, 5)], duration=8))
    assert (m.responses, m.mean_response_s) == (1, 1.0)


def test_overlapping_vad_intervals_of_one_party_are_merged():
    m = conversation_metrics(call([(0, 4), (3, 5)], [(6, 7)], duration=10))
    assert m.agent_talk_rate == 0.5 and m.non_talk_rate == 0.4


def test_mono_recording_measures_only_the_agent():
    m = conversation_metrics(call([(0, 3), (5, 6)], [], duration=10, roles="single",
                                  speakers=("agent",)))
    assert m.agent_talk_rate == 0.4
    assert (m.customer_talk_rate, m.non_talk_rate, m.overtalk_rate, m.longest_silence_s,
            m.mean_response_s, m.responses) == (None, None, None, None, None, 0)


def test_uncertain_roles_keep_what_does_not_depend_on_who_is_who():
    m = conversation_metrics(call([(1, 5)], [(6, 9)], duration=10, roles="uncertain"))
    assert (m.agent_talk_rate, m.customer_talk_rate, m.mean_response_s) == (None, None, None)
    assert (m.non_talk_rate, m.overtalk_rate, m.longest_silence_s) == (0.3, 0.0, 1.0)


def test_empty_call_has_no_rates():
    m = conversation_metrics(call([], [], duration=0.0))
    assert m.agent_talk_rate is None and m.non_talk_rate is None and m.longest_silence_s == 0.0


def test_round_trip_through_the_result_dict():
    m = conversation_metrics(call([(1, 5)], [(6, 9)]))
    assert ConversationMetrics.from_dict(m.to_dict()) == m
    assert ConversationMetrics.from_dict({}) is None


@pytest.mark.parametrize("agent,customer,duration", [
    ([(0, 10)], [(0, 10)], 10.0),   # all overtalk
    ([(0, 1)], [(9, 10)], 10.0),    # mostly silence
])
def test_shares_add_up(agent, customer, duration):
    m = conversation_metrics(call(agent, customer, duration))
    assert m.agent_talk_rate + m.customer_talk_rate - m.overtalk_rate + m.non_talk_rate \
        == pytest.approx(1.0)
