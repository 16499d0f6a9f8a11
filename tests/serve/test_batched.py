"""Offline generation in bounded, length-sorted batches: every row answered as the chat engine answers it alone,
k samples a prompt, a stop between batches, and batches that keep their bounds (a property test)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.serve.batched import Batching, batches

torch = pytest.importorskip("torch")


@given(st.lists(st.integers(1, 400), max_size=60), st.integers(1, 64), st.integers(1, 16),
       st.integers(100, 20_000))
@settings(max_examples=200, deadline=None)
def test_batches_hold_every_row_once_within_their_bounds(lengths, new, rows, tokens):
    limits = Batching(rows=rows, tokens=tokens)
    out = batches(lengths, new, limits)
    assert sorted(i for b in out for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in out for i in b]
    assert flat == sorted(flat)   # shortest first: each batch pads to a near length
    for b in out:
        assert len(b) <= rows
        assert len(b) == 1 or len(b) * (max(lengths[i] for i in b) + new) <= tokens


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from studio.serve.chat import ChatEngine
    from tests.conftest import finished_run
    run = finished_run(tmp_path_factory.mktemp("batched"))
    from studio.format.contract import Contract
    e = ChatEngine(Contract.load(run.adapter).base_model_path, device="cpu")
    contract = e.add_adapter("tuned", run.adapter)
    return e, contract


QUESTIONS = ["ごきげんよう", "好きな食べ物は何ですか？教えてください。", "q", "今日は何をしましたの？" * 3, "元気？",
             "hello there, how are you today?", "一", "二つ目の質問ですわ"]


def test_every_row_gets_the_reply_it_gets_alone(engine):
    from studio.serve.batched import answer_all
    from studio.serve.chat import GenSettings, Row
    e, contract = engine
    s = GenSettings(max_new_tokens=10)
    rows = [Row(a, contract, [], q) for q in QUESTIONS for a in (None, "tuned")]
    seen = []
    got = answer_all(e, rows, s, Batching(rows=5), on_batch=lambda idx, replies: seen.append(len(idx)))
    assert seen and max(seen) <= 5 and sum(seen) == len(rows)
    for row, reply in zip(rows, got):
        alone = e.generate([row], s)[0]
        assert (reply.token_ids, reply.stopped, reply.new_tokens) == (alone.token_ids, alone.stopped,
                                                                      alone.new_tokens), row.message
    assert got[0].text != got[1].text or got[0].token_ids != got[1].token_ids  # the adapter is on for its rows


def test_k_samples_a_prompt_and_a_stop_between_batches(engine):
    from studio.serve.batched import generate_many
    from studio.serve.chat import GenSettings, Row
    e, contract = engine
    rows = [Row("tuned", contract, [], q) for q in QUESTIONS[:3]]
    sampled = generate_many(e, rows, GenSettings(max_new_tokens=8, temperature=1.5, seed=3), samples=4)
    assert [len(r) for r in sampled] == [4, 4, 4]
    assert any(len({tuple(x.token_ids) for x in r}) > 1 for r in sampled)   # sampled: not all the same
    greedy = generate_many(e, rows, GenSettings(max_new_tokens=8), samples=3)
    assert all(len(r) == 3 and len({tuple(x.token_ids) for x in r}) == 1 for r in greedy)
    calls = []
    stopped = generate_many(e, rows, GenSettings(max_new_tokens=8), limits=Batching(rows=1),
                            on_batch=lambda idx, replies: calls.append(idx) or True)
    assert len(calls) == 1 and sum(bool(r) for r in stopped) == 1


def test_a_released_engine_or_an_empty_message_is_said(engine):
    from studio.core.errors import StudioError
    from studio.serve.batched import answer_all
    from studio.serve.chat import GenSettings, Row
    e, contract = engine
    with pytest.raises(StudioError):
        answer_all(e, [Row(None, contract, [], "  ")], GenSettings(max_new_tokens=4))


def test_one_adapters_rows_decode_folded_and_the_weights_come_back_exactly(engine):
    from studio.serve.batched import answer_all
    from studio.serve.chat import GenSettings, Row
    e, contract = engine
    before = {k: v.clone() for k, v in e.model.state_dict().items()}
    rows = [Row("tuned", contract, [], q) for q in QUESTIONS]
    s = GenSettings(max_new_tokens=10)
    folded = answer_all(e, rows, s, Batching(merge=True))
    routed = answer_all(e, rows, s, Batching(merge=False))
    assert [r.token_ids for r in folded] == [r.token_ids for r in routed]
    after = e.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    with e.lock, e.only("tuned") as single:   # inside: the adapter's delta is in the base weights
        inside = e.model.state_dict()
        assert single and any(not torch.equal(before[k], inside[k]) for k in before if "base_layer" in k)
    assert all(torch.equal(before[k], v) for k, v in e.model.state_dict().items())


def test_the_cpu_output_layer_gives_the_same_logits_and_follows_a_resized_weight(engine):
    e, _ = engine
    head = e.model.get_output_embeddings()
    x = torch.randn(3, 5, head.weight.shape[1])[:, -1:, :]   # a strided view, as generate() passes it
    with torch.no_grad():
        assert torch.allclose(head(x), torch.nn.functional.linear(x, head.weight), atol=1e-5)
        old = head.weight
        head.weight = torch.nn.Parameter(torch.randn(old.shape[0] + 2, old.shape[1]), requires_grad=False)
        try:
            assert head(x).shape[-1] == old.shape[0] + 2   # remade for the new weight, not the cached one
            assert torch.allclose(head(x), torch.nn.functional.linear(x, head.weight), atol=1e-5)
        finally:
            head.weight = old


def test_the_sampler_draws_from_the_tempered_truncated_distribution():
    from studio.serve.chat import GenSettings
    from studio.serve.decoding import sampler
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(20_000, 1)
    ids = sampler(GenSettings(temperature=1.0))(None, logits).argmax(-1)
    freq = torch.bincount(ids, minlength=4).float() / len(ids)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.015)
    hot = sampler(GenSettings(temperature=2.0))(None, logits).argmax(-1)     # p ** (1/2), renormalized
    want = torch.tensor([0.5, 0.3, 0.15, 0.05]) ** 0.5
    assert torch.allclose(torch.bincount(hot, minlength=4).float() / len(hot), want / want.sum(), atol=0.015)
    top_k = sampler(GenSettings(temperature=1.0, top_k=2))(None, logits).argmax(-1)
    assert set(top_k.tolist()) == {0, 1} and abs((top_k == 0).float().mean().item() - 0.5 / 0.8) < 0.015
    nucleus = sampler(GenSettings(temperature=1.0, top_p=0.7))(None, logits).argmax(-1)
    assert set(nucleus.tolist()) == {0, 1}   # 0.5 + 0.3 reach 0.7: the rest is cut
    out = sampler(GenSettings(temperature=0.7, top_k=3))(None, logits[:3])
    assert ((out == 0).sum(-1) == 1).all() and torch.isinf(out).sum() == 3 * 3   # one token left a row
