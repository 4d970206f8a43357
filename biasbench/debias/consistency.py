"""Counterfactual voice consistency: the same instruction spoken by voices of different groups should
get the same answer distribution. Symmetric KL between answer-token distributions, averaged."""

from __future__ import annotations

from itertools import combinations
from typing import Any, Sequence


def symmetric_kl(logits_a: Any, logits_b: Any) -> Any:
    """Mean over positions of ½·(KL(p‖q) + KL(q‖p)) for two ``[positions, vocab]`` logit tensors."""
    import torch.nn.functional as F

    if logits_a.shape != logits_b.shape:
        raise ValueError(f"answer logits differ in shape: {tuple(logits_a.shape)} vs {tuple(logits_b.shape)}")
    log_p = F.log_softmax(logits_a.float(), dim=-1)
    log_q = F.log_softmax(logits_b.float(), dim=-1)
    kl_pq = (log_p.exp() * (log_p - log_q)).sum(-1)
    kl_qp = (log_q.exp() * (log_q - log_p)).sum(-1)
    return (0.5 * (kl_pq + kl_qp)).mean()


def consistency_loss(answer_logits: Sequence[Any], instruction_ids: Sequence[str], cells: Sequence[str]) -> Any:
    """Mean symmetric KL over every pair of rows that share an instruction but not a demographic cell.

    ``answer_logits[i]`` holds row i's logits at its answer-token positions (``[n_answer, vocab]``);
    rows of the same instruction have the same answer tokens. Returns a zero tensor when the batch
    holds no such pair (the caller logs how many pairs each step had).
    """
    import torch

    if not len(answer_logits) == len(instruction_ids) == len(cells):
        raise ValueError("answer_logits, instruction_ids and cells must have the same length")
    terms = [
        symmetric_kl(answer_logits[i], answer_logits[j])
        for i, j in combinations(range(len(answer_logits)), 2)
        if instruction_ids[i] == instruction_ids[j] and cells[i] != cells[j]
    ]
    if not terms:
        reference = answer_logits[0] if len(answer_logits) else torch.zeros(())
        return reference.new_zeros(()).float()
    return torch.stack(terms).mean()


def count_pairs(instruction_ids: Sequence[str], cells: Sequence[str]) -> int:
    """Number of counterfactual pairs :func:`consistency_loss` averages over."""
    return sum(
        1
        for i, j in combinations(range(len(instruction_ids)), 2)
        if instruction_ids[i] == instruction_ids[j] and cells[i] != cells[j]
    )
