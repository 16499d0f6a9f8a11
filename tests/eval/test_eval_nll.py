"""The evaluation's likelihoods score only the labelled positions (logits_to_keep): equal to scoring every one."""
import pytest

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("skip_last", [False, True])
def test_nll_of_the_labelled_tokens_equals_the_full_computation(tmp_path, skip_last):
    from transformers import AutoModelForCausalLM

    from studio.eval.evaluate import _nll
    from studio.format.render import IGNORE
    from studio.tiny import save_tiny_model
    model = AutoModelForCausalLM.from_pretrained(save_tiny_model(tmp_path / "m", "chatml")).eval()
    ids = [5, 9, 14, 3, 22, 7, 7, 30, 2, 11]
    labels = [IGNORE] * 4 + ids[4:]
    got, n = _nll(model, ids, labels, skip_last)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1].float(), dim=-1)
    pos = [i for i, t in enumerate(labels[1:]) if t != IGNORE][:-1 if skip_last else None]
    assert n == len(pos) == (5 if skip_last else 6)
    assert abs(got - float(-sum(logp[i, labels[i + 1]] for i in pos))) < 1e-4
    assert _nll(model, ids, [IGNORE] * len(ids)) == (0.0, 0)
