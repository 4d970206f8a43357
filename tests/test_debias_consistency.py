"""Counterfactual voice consistency loss: zero for identical distributions, positive otherwise."""

import pytest

torch = pytest.importorskip("torch", reason="torch (biasbench[finetune]) is not installed")

from biasbench.debias.consistency import consistency_loss, count_pairs, symmetric_kl


def test_symmetric_kl_is_zero_for_identical_and_positive_for_different_logits():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 11, generator=generator)
    assert symmetric_kl(logits, logits.clone()).item() == pytest.approx(0.0, abs=1e-7)
    # a constant shift leaves the distribution unchanged
    assert symmetric_kl(logits, logits + 3.0).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(5, 11, generator=generator)
    value = symmetric_kl(logits, other)
    assert value.item() > 0.01
    assert value.item() == pytest.approx(symmetric_kl(other, logits).item(), rel=1e-6)


def test_symmetric_kl_matches_closed_form_for_two_tokens():
    p = torch.tensor([0.8, 0.2])
    q = torch.tensor([0.5, 0.5])
    expected = 0.5 * ((p * (p / q).log()).sum() + (q * (q / p).log()).sum())
    assert symmetric_kl(p.log()[None], q.log()[None]).item() == pytest.approx(expected.item(), rel=1e-5)


def test_consistency_loss_pairs_only_same_instruction_across_cells():
    generator = torch.Generator().manual_seed(1)
    a, b, c = (torch.randn(3, 7, generator=generator) for _ in range(3))
    ids = ["i1", "i1", "i2"]
    assert consistency_loss([a, a.clone(), c], ids, ["f|us", "m|gb", "f|us"]).item() == pytest.approx(0.0, abs=1e-7)
    assert consistency_loss([a, b, c], ids, ["f|us", "m|gb", "f|us"]).item() == pytest.approx(symmetric_kl(a, b).item(), rel=1e-6)
    # same cell -> not a counterfactual pair; different instruction -> not comparable
    assert consistency_loss([a, b, c], ids, ["f|us", "f|us", "m|gb"]).item() == 0.0
    assert count_pairs(ids, ["f|us", "m|gb", "f|us"]) == 1


def test_consistency_loss_has_gradients():
    logits_a = torch.randn(2, 5, requires_grad=True)
    logits_b = torch.randn(2, 5)
    loss = consistency_loss([logits_a, logits_b], ["x", "x"], ["a", "b"])
    loss.backward()
    assert logits_a.grad is not None and logits_a.grad.abs().sum() > 0


def test_mismatched_answer_lengths_are_rejected():
    with pytest.raises(ValueError, match="differ in shape"):
        symmetric_kl(torch.zeros(2, 4), torch.zeros(3, 4))
