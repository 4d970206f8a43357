# biasbench — the two commands in the README:
#   make demo   set up .venv and run the offline quickstart (espeak voices, whisper + simulated models)
#   make test   set up .venv with every extra and run the test suite offline
#
# Overridable: PYTHON (interpreter for the venv), VENV (its folder), TORCH_SPEC (torch is installed
# first, alone, when missing — a bare `torch` requirement would pull several GB of CUDA wheels),
# DEMO_OUT (quickstart run directory), PYTEST_ARGS.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= results/quickstart
PYTEST_ARGS ?=

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test venv-demo venv-test system-deps clean-results

demo: venv-demo
	$(BIN)/biasbench run configs/quickstart.yaml --out $(DEMO_OUT)

test: venv-test system-deps
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs no torch: espeak-ng (system binary, else the espeakng-loader wheel) and faster-whisper.
venv-demo: $(BIN)/python
	$(PIP) install -q -e ".[tts,asr]"

# Tests build tiny transformers models, so torch comes first (pinned, CPU build where available).
venv-test: $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[all]"

# The second offline TTS engine (CMU Flite) is a Debian program: installed here when missing and we are root
# (CI's fresh machine); otherwise its tests skip with the install hint.
system-deps:
	@command -v flite >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq flite >/dev/null) \
		|| echo "note: flite not installed (apt-get install -y flite); its tests will skip"; }

clean-results:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
