"""MaskGCT worker: runs in MaskGCT's own environment and speaks JSON lines on stdin/stdout.

Set-up (see docs/voices.md):

    git clone https://github.com/open-mmlab/Amphion /opt/Amphion
    python3.10 -m venv /opt/maskgct-env && /opt/maskgct-env/bin/pip install -r /opt/Amphion/models/tts/maskgct/requirements.txt
    /opt/maskgct-env/bin/python maskgct_worker.py --amphion-dir /opt/Amphion --device cuda:0

Protocol: one line ``{"event": "ready", "model": "amphion/MaskGCT", "device": ...}`` once loaded; then
per request line ``{"id", "text", "reference", "reference_text", "language", "seed", "out", "params"}``
one answer line ``{"id", "ok": true, "path": out, "sample_rate": 24000}`` or ``{"id", "ok": false, "error"}``.
Everything else (library logs, progress bars) goes to stderr, so stdout carries only the protocol.
"""

import argparse
import json
import os
import sys


def _build(amphion_dir, device, checkpoint_dir):
    sys.path.insert(0, amphion_dir)
    os.chdir(amphion_dir)
    import safetensors.torch
    import torch
    from huggingface_hub import hf_hub_download
    from models.tts.maskgct.maskgct_utils import (
        MaskGCT_Inference_Pipeline, build_acoustic_codec, build_s2a_model, build_semantic_codec,
        build_semantic_model, build_t2s_model, load_config,
    )

    device = torch.device(device)
    cfg = load_config("./models/tts/maskgct/config/maskgct.json")
    semantic_model, semantic_mean, semantic_std = build_semantic_model(device)
    semantic_codec = build_semantic_codec(cfg.model.semantic_codec, device)
    codec_encoder, codec_decoder = build_acoustic_codec(cfg.model.acoustic_codec, device)
    t2s_model = build_t2s_model(cfg.model.t2s_model, device)
    s2a_1layer = build_s2a_model(cfg.model.s2a_model.s2a_1layer, device)
    s2a_full = build_s2a_model(cfg.model.s2a_model.s2a_full, device)

    def weights(name):
        local = os.path.join(checkpoint_dir, name) if checkpoint_dir else None
        return local if local and os.path.isfile(local) else hf_hub_download("amphion/MaskGCT", filename=name)

    safetensors.torch.load_model(semantic_codec, weights("semantic_codec/model.safetensors"))
    safetensors.torch.load_model(codec_encoder, weights("acoustic_codec/model.safetensors"))
    safetensors.torch.load_model(codec_decoder, weights("acoustic_codec/model_1.safetensors"))
    safetensors.torch.load_model(t2s_model, weights("t2s_model/model.safetensors"))
    safetensors.torch.load_model(s2a_1layer, weights("s2a_model/s2a_model_1layer/model.safetensors"))
    safetensors.torch.load_model(s2a_full, weights("s2a_model/s2a_model_full/model.safetensors"))
    return MaskGCT_Inference_Pipeline(
        semantic_model, semantic_codec, codec_encoder, codec_decoder, t2s_model, s2a_1layer, s2a_full,
        semantic_mean, semantic_std, device,
    )


def _answer(out, message):
    out.write(json.dumps(message) + "\n")
    out.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amphion-dir", required=True, help="checkout of github.com/open-mmlab/Amphion")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--checkpoint-dir", default="", help="local copy of the amphion/MaskGCT weights")
    args = parser.parse_args()
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    import random

    import numpy as np
    import soundfile as sf
    import torch

    pipeline = _build(os.path.abspath(args.amphion_dir), args.device, args.checkpoint_dir)
    _answer(protocol, {"event": "ready", "model": "amphion/MaskGCT", "device": args.device})
    for line in sys.stdin:
        request = {}
        try:
            request = json.loads(line)
            seed = int(request.get("seed", 0))
            random.seed(seed)
            np.random.seed(seed % (2**32))
            torch.manual_seed(seed)
            params = dict(request.get("params") or {})
            audio = pipeline.maskgct_inference(
                request["reference"], request["reference_text"], request["text"],
                request.get("language", "en"), request.get("language", "en"), **params,
            )
            sf.write(request["out"], audio, 24000)
            _answer(protocol, {"id": request.get("id"), "ok": True, "path": request["out"], "sample_rate": 24000})
        except Exception as exc:  # report and keep serving
            _answer(protocol, {"id": request.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
