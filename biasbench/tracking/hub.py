"""Publish an exported run dataset to the Hugging Face Hub (``export --push-to-hub REPO``)."""

from __future__ import annotations

from pathlib import Path

from biasbench.core.deps import require
from biasbench.core.errors import BiasbenchError, ConfigError


class HubError(BiasbenchError):
    """The Hub refused the upload (its message, on one line)."""

    exit_code = 1


def push_dataset(folder: Path, repo_id: str, *, private: bool = True, token: str | None = None, message: str | None = None) -> str:
    """Create the dataset repo if needed (private unless asked otherwise) and upload ``folder`` (the saved
    dataset and its README card) in one commit; returns the commit URL. The endpoint and token are
    huggingface_hub's own settings (HF_ENDPOINT, HF_TOKEN or `hf auth login`)."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"--push-to-hub '{repo_id}' must look like OWNER/NAME")
    hub = require("huggingface_hub", "hub", purpose="pushing a dataset to the Hugging Face Hub")
    api = hub.HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
            commit_message=message or f"biasbench export of {Path(folder).name}",
        )
    except Exception as exc:  # huggingface_hub raises HfHubHTTPError and friends: one line, no traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HubError(f"pushing to the Hub repo '{repo_id}' failed: {first}") from None
    return str(getattr(commit, "commit_url", commit))
