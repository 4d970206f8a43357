"""The DPO objective (Rafailov et al. 2023) on answer-only log-probabilities.

loss = -log σ(β · [(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))])

Log-probabilities are summed over the answer tokens only (prompt, audio and padding positions carry
``IGNORE_INDEX`` labels), so the audio prompt contributes context but no likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from biasbench.debias.features import IGNORE_INDEX


@dataclass(frozen=True)
class DPOStatistics:
    """The loss and what the logs report for one batch of pairs."""

    loss: Any
    """Mean DPO loss (a differentiable scalar tensor)."""
    reward_chosen: float
    """Mean implicit reward β·(log π − log π_ref) of the chosen answers."""
    reward_rejected: float
    """Mean implicit reward of the rejected answers."""
    reward_margin: float
    """Mean reward_chosen − reward_rejected."""
    preference_accuracy: float
    """Share of pairs whose chosen reward is strictly above the rejected one (0 when policy = reference)."""


def sequence_logprobs(logits: Any, labels: Any) -> Any:
    """Per row, the sum of log p(answer token) over positions whose label is not ``IGNORE_INDEX``."""
    import torch

    shifted_logits = logits[:, :-1, :].float()
    shifted_labels = labels[:, 1:]
    mask = shifted_labels != IGNORE_INDEX
    safe = shifted_labels.masked_fill(~mask, 0)
    token_logprobs = torch.log_softmax(shifted_logits, dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (token_logprobs * mask).sum(dim=-1)


def dpo_statistics(policy_chosen: Any, policy_rejected: Any, reference_chosen: Any, reference_rejected: Any, beta: float) -> DPOStatistics:
    """The sigmoid DPO loss and reward statistics of matched pair rows."""
    import torch.nn.functional as F

    chosen = beta * (policy_chosen - reference_chosen.detach())
    rejected = beta * (policy_rejected - reference_rejected.detach())
    margin = chosen - rejected
    loss = -F.logsigmoid(margin).mean()
    return DPOStatistics(
        loss=loss,
        reward_chosen=float(chosen.detach().mean()),
        reward_rejected=float(rejected.detach().mean()),
        reward_margin=float(margin.detach().mean()),
        preference_accuracy=float((margin.detach() > 0).float().mean()),
    )
