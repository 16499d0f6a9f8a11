"""results.json is typed: what an evaluation writes reads back equal; a renamed key or a value of the wrong kind
reads as 'not evaluated' (None), never as a missing metric."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.eval.results import Answered, EvalResults, FreeformAnswer

text = st.text(max_size=40)
metrics = st.dictionaries(st.sampled_from(["style_rate", "stop_rate", "freeform_score", "distinct_2"]),
                          st.none() | st.floats(0, 1, allow_nan=False))
results = st.builds(
    EvalResults, prompts=text, max_new_tokens=st.integers(1, 512), against=st.sampled_from(["base", "parent"]),
    parent_run=text, freeform_base_as=st.sampled_from(["chat", "text"]), base=metrics, tuned=metrics,
    answers=st.lists(st.builds(Answered, text, text, text, text, st.booleans(), st.booleans()), max_size=4),
    freeform=st.lists(st.builds(FreeformAnswer, text, text, text, text, text, st.booleans(), st.booleans()),
                      max_size=4),
    freeform_drop=st.none() | st.floats(-1, 1, allow_nan=False), forgetting=st.booleans(),
    collapse=st.booleans(), complete=st.booleans())


@given(results)
@settings(max_examples=50, deadline=None)
def test_results_round_trip_through_the_file(tmp_path_factory, res):
    path = tmp_path_factory.mktemp("r") / "results.json"
    path.write_text(res.to_json(), encoding="utf-8")
    assert EvalResults.load(path) == res


def test_unknown_keys_and_wrong_kinds_read_as_not_evaluated(tmp_path):
    path = tmp_path / "results.json"
    good = json.loads(EvalResults(base={"stop_rate": 1.0}, answers=[Answered("q")]).to_json())
    for bad in ({**good, "stop_rat": 1}, {**good, "forgetting": "yes"}, {**good, "base": {"stop_rate": "high"}},
                {**good, "answers": [{"question": "q", "extra": 1}]}, {**good, "tuned": [1]}, [good], "x"):
        path.write_text(json.dumps(bad), encoding="utf-8")
        assert EvalResults.load(path) is None, bad
    path.write_text("{not json", encoding="utf-8")
    assert EvalResults.load(path) is None
    assert EvalResults.load(tmp_path / "missing.json") is None
    path.write_text(json.dumps(good), encoding="utf-8")
    assert EvalResults.load(path).answers == [Answered("q")]
